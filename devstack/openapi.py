"""``python -m devstack.openapi docs/openapi.json`` (``make openapi``): one OpenAPI document for the whole API.

The document is the one the API serves (``ledgersync.routes.service.openapi_document`` over the management
function's resolver, which carries every JSON router, plus the Web Connector's SOAP endpoint), so the committed
file and ``GET /v1/openapi.json`` cannot differ. Each API function's resolver is imported too, to warn where a
resolver, template.yaml and the document disagree on the routes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from devstack.runtime import import_file
from devstack.template import DEFAULT_TEMPLATE, ApiRoute, Template

TITLE = "Ledgersync API"
VERSION = "1.0.0"
_PARAMETER = re.compile(r"\{[^}]+\}")
DOCUMENT_ROUTE = "/v1/openapi.json"


def build_document(template: Template, title: str = TITLE, version: str = VERSION) -> tuple[dict[str, Any], list[str]]:
    """The document the API serves at ``GET /v1/openapi.json`` (one rule: ``service.openapi_document`` over the
    resolver of the function that serves it), and the warnings found on the way: a route that template.yaml and
    the resolvers do not agree on, or that a function's resolver serves and the document does not describe."""
    from ledgersync.routes.service import openapi_document

    warnings: list[str] = []
    declared = {(r.method, _shape(r.path)) for r in api_operations(template)}
    served: dict[tuple[str, str], str] = {}
    document: dict[str, Any] | None = None
    for logical_id, spec in template.functions.items():
        if not any(r.method != "ANY" for r in spec.routes):
            continue
        if not spec.module_path.is_file():
            warnings.append(f"{logical_id}: {spec.module_path} does not exist yet; its routes are not described")
            continue
        module = import_file(spec.module_path, f"devstack_openapi_{logical_id}")
        app = getattr(module, "app", None)
        if app is None or not hasattr(app, "get_openapi_schema"):
            warnings.append(f"{logical_id}: {spec.module_path} has no Powertools resolver named app")
            continue
        schema = app.get_openapi_schema(title=title, version=version).model_dump(by_alias=True, exclude_none=True)
        for path, operations in (schema.get("paths") or {}).items():
            for method in operations:
                served.setdefault((method.upper(), _shape(path)), logical_id)
        if any(r.method == "GET" and r.path == DOCUMENT_ROUTE for r in spec.routes):
            document = openapi_document(app)
    if document is None:
        raise LookupError(f"no function of template.yaml serves GET {DOCUMENT_ROUTE}: there is no document to write")
    described = {(method.upper(), _shape(path)) for path, ops in document["paths"].items() for method in ops}
    for method, path in sorted(set(served) - declared):
        warnings.append(f"{method} {path} is in a resolver but not in template.yaml (API Gateway will answer 403)")
    for method, path in sorted(declared - set(served)):
        warnings.append(f"{method} {path} is in template.yaml but no resolver serves it")
    for method, path in sorted((declared | set(served)) - described):
        warnings.append(f"{method} {path} is served but GET {DOCUMENT_ROUTE} does not describe it")
    return document, warnings


def api_operations(template: Template) -> list[ApiRoute]:
    """The template's routes that are API operations: not the ``ANY`` routes, which only catch the methods a path
    does not take and answer them 405 (MethodNotAllowedFunction); a document listing them would offer every method
    on every path."""
    return [r for r in template.routes if r.method != "ANY"]


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
