"""A wrong method on a declared path is 405 with ``Allow``, in the error shape, on AWS (an ``ANY`` event per path
sent to MethodNotAllowedFunction) and locally (the gateway prefers a path's own method over its ``ANY``)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from devstack.gateway import Gateway, RouteTable
from devstack.template import ApiRoute, Template
from functions.method_not_allowed.app import ALLOWED_METHODS, lambda_handler

TEMPLATE = Template.load()
FUNCTIONS = ("MethodNotAllowedFunction", "KometMethodNotAllowedFunction")
# Lambda refuses a function's resource policy over 20 KB; SAM writes one statement per Api event
POLICY_LIMIT_BYTES = 20 * 1024


def _operations() -> dict[str, tuple[str, ...]]:
    by_path: dict[str, set[str]] = {}
    for route in TEMPLATE.routes:
        if route.method != "ANY":
            by_path.setdefault(route.path, set()).add(route.method)
    return {path: tuple(sorted(methods)) for path, methods in by_path.items()}


def _event(method: str, resource: str, path: str | None = None) -> dict[str, Any]:
    return {"httpMethod": method, "resource": resource, "path": path or resource}


def test_the_allow_map_is_the_templates_routes_when_both_are_read() -> None:
    assert _operations() == ALLOWED_METHODS


def test_every_declared_path_has_one_any_route_to_the_405_function_and_no_other_any_when_the_template_is_read() -> None:
    any_routes = [r for r in TEMPLATE.routes if r.method == "ANY"]

    assert {r.function_id for r in any_routes} == set(FUNCTIONS)
    assert sorted(r.path for r in any_routes) == sorted(_operations())
    assert all(r.method == "ANY" for f in FUNCTIONS for r in TEMPLATE.functions[f].routes)
    assert all(
        r.path.startswith(("/api/", "/qbwc")) for r in TEMPLATE.functions["KometMethodNotAllowedFunction"].routes
    )


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_each_405_function_may_call_nothing_and_its_resource_policy_fits_when_the_template_is_read(
    function_id: str,
) -> None:
    spec = TEMPLATE.functions[function_id]
    # one statement as SAM writes it, with long names (stack, function suffix, API id, region)
    function = f"ledgersync-production-{function_id}-A1B2C3D4E5F6"
    arn = f"arn:aws:lambda:ap-southeast-2:123456789012:function:{function}"
    statements = [
        {
            "Sid": f"ledgersync-production-{function_id}{r.event_name}PermissionProd-A1B2C3D4E5F6",
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": arn,
            "Condition": {
                "ArnLike": {"AWS:SourceArn": f"arn:aws:execute-api:ap-southeast-2:123456789012:abcdefghij/*/*{r.path}"}
            },
        }
        for r in spec.routes
    ]
    policy = json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": statements})

    assert spec.policies == []
    assert len(policy.encode()) < POLICY_LIMIT_BYTES, len(policy)


def test_a_wrong_method_is_405_with_allow_in_the_error_shape_when_the_function_answers() -> None:
    answer = lambda_handler(_event("GET", "/v1/companies"), None)

    assert answer["statusCode"] == 405
    assert answer["headers"] == {"Content-Type": "application/json", "Allow": "POST"}
    body = json.loads(answer["body"])
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == "MethodNotAllowed" and "POST" in body["message"]
    assert [e["field"] for e in body["errors"]] == ["method"]


def test_a_komet_method_answers_405_with_status_0_and_both_methods_when_the_function_answers() -> None:
    answer = lambda_handler(_event("DELETE", "/api/customer.list"), None)

    body = json.loads(answer["body"])
    assert answer["statusCode"] == 405 and answer["headers"]["Allow"] == "GET, POST"
    assert body["status"] == "0" and body["code"] == "MethodNotAllowed"


def test_the_message_names_the_requested_path_when_the_resource_has_parameters() -> None:
    answer = lambda_handler(_event("POST", "/v1/purchase-orders/{id}", "/v1/purchase-orders/P1"), None)

    assert answer["headers"]["Allow"] == "GET, PUT"
    assert "/v1/purchase-orders/P1" in json.loads(answer["body"])["message"]


ROUTES = [
    ApiRoute("Any", "AnyCompanies", "ANY", "/v1/companies"),
    ApiRoute("Create", "CreateCompany", "POST", "/v1/companies"),
    ApiRoute("Send", "Send", "POST", "/v1/purchase-orders/send-to-external"),
    ApiRoute("Get", "GetPo", "GET", "/v1/purchase-orders/{id}"),
]


@pytest.mark.parametrize(
    ("method", "path", "function_id"),
    [
        ("POST", "/v1/companies", "Create"),  # its own method wins over ANY, whatever the template's order
        ("GET", "/v1/companies", "Any"),
        ("OPTIONS", "/v1/companies", "Any"),
        ("GET", "/v1/purchase-orders/P1", "Get"),
        ("POST", "/v1/purchase-orders/send-to-external", "Send"),
        # the literal resource is chosen first; it takes no GET and has no ANY, so no route (API Gateway's 404)
        ("GET", "/v1/purchase-orders/send-to-external", None),
        ("TRACE", "/v1/companies", None),  # not a method ANY stands for
        ("GET", "/v1/nowhere", None),
    ],
)
def test_a_paths_own_method_wins_over_its_any_route_when_matched(
    method: str, path: str, function_id: str | None
) -> None:
    found = RouteTable(ROUTES).match(method, path)

    assert (found.route.function_id if found else None) == function_id


def _served(method: str, path: str) -> tuple[int, dict[str, str], dict[str, Any], set[str]]:
    invoked: set[str] = set()

    def invoke(function_id: str, event: dict[str, Any]) -> Any:
        invoked.add(function_id)
        if function_id in FUNCTIONS:
            return lambda_handler(event, None)
        return {"statusCode": 200, "body": "{}"}

    gateway = Gateway(TEMPLATE.routes, invoke, gateway_responses=TEMPLATE.gateway_responses())
    try:
        answer = gateway.answer(method, path, [], b"", "127.0.0.1")
    finally:
        gateway.shutdown()
    return answer.status, dict(answer.headers), json.loads(answer.body), invoked


def test_get_companies_is_405_allow_post_through_the_local_gateway_when_served() -> None:
    status, headers, body, invoked = _served("GET", "/v1/companies")

    assert status == 405 and headers["Allow"] == "POST"
    assert body["code"] == "MethodNotAllowed" and body["errors"][0]["field"] == "method"
    assert invoked == {"MethodNotAllowedFunction"}


@pytest.mark.parametrize("route", [r for r in TEMPLATE.routes if r.method != "ANY"], ids=lambda r: r.event_name)
def test_every_declared_route_still_reaches_its_own_function_when_served_locally(route: ApiRoute) -> None:
    path = re.sub(r"\{[^}]+\}", "x1", route.path)

    match = RouteTable(TEMPLATE.routes).match(route.method, path)

    assert match is not None and match.route == route


@pytest.mark.parametrize("path", ["/nowhere", "/v1", "/v1/companies/c1"])
def test_an_unknown_path_is_still_404_not_found_when_served_locally(path: str) -> None:
    status, _, body, invoked = _served("GET", path)

    assert status == 404 and body["code"] == "NotFound" and not invoked
