"""Every route template.yaml sends to a function is one that function's resolver serves (and none is missing)."""

from __future__ import annotations

import importlib
import re

import pytest
from devstack.template import Template

TEMPLATE = Template.load()
PARAMETER = re.compile(r"\{[^}]+\}")


def shape(path: str) -> str:
    return PARAMETER.sub("{}", path)


# ANY routes are not operations: they answer the methods a path does not take 405 (MethodNotAllowedFunction)
@pytest.mark.parametrize(
    "function_id", [lid for lid, spec in TEMPLATE.functions.items() if any(r.method != "ANY" for r in spec.routes)]
)
def test_each_template_route_is_served_by_its_function_when_the_handler_is_imported(function_id: str) -> None:
    spec = TEMPLATE.functions[function_id]
    module = importlib.import_module(f"functions.{spec.module_path.parent.name}.app")
    if not hasattr(module.app, "get_openapi_schema"):
        pytest.skip("not a Powertools REST resolver (SOAP)")
    schema = module.app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    served = {(method.upper(), shape(path)) for path, ops in schema["paths"].items() for method in ops}
    hidden = {("GET", "/v1/openapi.json"), ("GET", "/v1/docs")}
    declared = {(r.method, shape(r.path)) for r in spec.routes if r.method != "ANY"} - hidden
    assert declared <= served, declared - served
