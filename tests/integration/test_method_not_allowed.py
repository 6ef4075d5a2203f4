"""Through the local stack (the real template and handlers): a wrong method is 405 with Allow, an unknown path 404,
and a declared route still reaches its own function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(emulators=False, schedules=False, pollers=False) as running:
        yield running


def test_get_companies_is_405_allow_post_in_the_error_shape_when_sent_to_the_local_stack(stack: LocalStack) -> None:
    answer = requests.get(f"{stack.api_url}/v1/companies", timeout=30)

    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == "MethodNotAllowed"
    assert body["errors"][0]["field"] == "method"


def test_a_wrong_method_on_a_parameter_path_names_its_methods_when_sent_to_the_local_stack(stack: LocalStack) -> None:
    answer = requests.delete(f"{stack.api_url}/v1/purchase-orders/P1", timeout=30)

    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, PUT"


def test_an_unknown_path_is_still_404_not_found_when_sent_to_the_local_stack(stack: LocalStack) -> None:
    answer = requests.get(f"{stack.api_url}/v1/nowhere", timeout=30)

    assert answer.status_code == 404 and answer.json()["code"] == "NotFound"


def test_a_declared_route_still_reaches_its_function_when_sent_to_the_local_stack(stack: LocalStack) -> None:
    health = requests.get(f"{stack.api_url}/v1/health", timeout=30)
    unauthorized = requests.post(f"{stack.api_url}/v1/companies", json={"name": "X"}, timeout=30)

    assert health.status_code == 200
    assert unauthorized.status_code == 401 and unauthorized.json()["errors"][0]["field"] == "X-Admin-Key"
