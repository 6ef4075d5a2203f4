"""``python -m devstack.openapi docs/openapi.json`` (``make openapi``): one OpenAPI document for the whole API.

Each API function's Powertools resolver (its module's ``app``) describes its own routes; this merges their
paths and component schemas, declares what each operation answers (``ledgersync.routes.service.ANSWERS``),
and warns where a resolver and template.yaml disagree on the routes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from devstack.runtime import import_file
from devstack.template import DEFAULT_TEMPLATE, Template

TITLE = "Ledgersync API"
VERSION = "1.0.0"
_PARAMETER = re.compile(r"\{[^}]+\}")


def build_document(template: Template, title: str = TITLE, version: str = VERSION) -> tuple[dict[str, Any], list[str]]:
    """The merged OpenAPI document, with the statuses each operation answers, and the warnings found on the way."""
    from ledgersync.routes.service import declare_answers

    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": {},
        "components": {"schemas": {}},
    }
    warnings: list[str] = []
    declared = {(r.method, _shape(r.path)) for r in template.routes}
    described: set[tuple[str, str]] = set()
    for logical_id, spec in template.functions.items():
        if not spec.routes:
            continue
        if not spec.module_path.is_file():
            warnings.append(f"{logical_id}: {spec.module_path} does not exist yet; its routes are not described")
            continue
        module = import_file(spec.module_path, f"devstack_openapi_{logical_id}")
        app = getattr(module, "app", None)
        if app is None or not hasattr(app, "get_openapi_schema"):
            warnings.append(f"{logical_id}: {spec.module_path} has no Powertools resolver named app")
            continue
        schema = app.get_openapi_schema(title=title, version=version).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        document["openapi"] = schema.get("openapi", document["openapi"])
        for path, operations in (schema.get("paths") or {}).items():
            merged = document["paths"].setdefault(path, {})
            for method, operation in operations.items():
                described.add((method.upper(), _shape(path)))
                if method in merged and merged[method] != operation:
                    warnings.append(f"{method.upper()} {path} is described by more than one function")
                merged[method] = operation
        for name, body in ((schema.get("components") or {}).get("schemas") or {}).items():
            known = document["components"]["schemas"].get(name)
            if known is not None and known != body:
                warnings.append(f"schema {name} differs between functions; {logical_id}'s was dropped")
                continue
            document["components"]["schemas"][name] = body
    for method, path in sorted(described - declared):
        warnings.append(f"{method} {path} is in a resolver but not in template.yaml (API Gateway will answer 403)")
    for method, path in sorted(declared - described):
        warnings.append(f"{method} {path} is in template.yaml but no resolver describes it")
    return declare_answers(document), warnings


def _shape(path: str) -> str:
    return _PARAMETER.sub("{}", path)


def main(argv: list[str]) -> int:
    """Write the document to the path given (default docs/openapi.json) and print the warnings."""
    target = Path(argv[0]) if argv else DEFAULT_TEMPLATE.parent / "docs" / "openapi.json"
    template = Template.load()
    for folder in (template.root / "layers" / "common" / "python",):
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.append(str(folder))
    document, warnings = build_document(template)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    for warning in warnings:
        print(f"openapi: warning: {warning}", file=sys.stderr)
    print(f"openapi: wrote {target} ({len(document['paths'])} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
