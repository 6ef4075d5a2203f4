"""The demo seed goes through the API: it tolerates routes not written yet and stops on real refusals."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.seed import DIRECTORY, SeedError, seed_demo_company
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  AdminFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/admin/
      Handler: app.lambda_handler
      Runtime: python3.12
      Events:
        Companies: {Type: Api, Properties: {Path: /v1/companies, Method: post}}
        Directory: {Type: Api, Properties: {Path: "/v1/directory/{kind}", Method: put}}
        Tokens: {Type: Api, Properties: {Path: /v1/tokens, Method: post}}
"""

ADMIN = """\
import json

ANSWERS = {}
CALLS = []

def lambda_handler(event, context):
    CALLS.append((event["httpMethod"], event["path"], event["headers"].get("X-Admin-Key"), json.loads(event["body"])))
    status, body = ANSWERS.get(event["resource"], (404, {"message": "Not found"}))
    return {"statusCode": status, "body": json.dumps(body)}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    folder = tmp_path / "functions" / "admin"
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(textwrap.dedent(ADMIN), encoding="utf-8")
    (tmp_path / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    with LocalStack(tmp_path / "template.yaml", emulators=False, pollers=False, schedules=False) as running:
        yield running


def test_seed_creates_company_directory_and_token_when_every_route_answers(stack: LocalStack) -> None:
    # Given
    admin = stack.functions["AdminFunction"].module
    admin.ANSWERS.update(
        {
            "/v1/companies": (201, {"companyId": "co_1", "userId": "usr_1", "adminToken": "lsk_admin"}),
            "/v1/directory/{kind}": (200, {"created": 1}),
            "/v1/tokens": (201, {"token": "lsk_demo", "tokenId": "tok_1", "apiMethods": ["*"]}),
        }
    )

    # When
    demo = seed_demo_company(stack.api_url, stack.admin_api_key)

    # Then
    assert (demo.company_id, demo.token, demo.warnings) == ("co_1", "lsk_demo", [])
    assert admin.CALLS[0][:3] == ("POST", "/v1/companies", stack.admin_api_key)
    kinds = [path.rsplit("/", 1)[1] for method, path, _, _ in admin.CALLS if method == "PUT"]
    assert kinds == list(DIRECTORY)
    customers = next(body for _, path, _, body in admin.CALLS if path.endswith("/customers"))
    assert {"id": 99999, "code": "ANG", "name": "Ang Flowers LLC", "currency": "USD"} in customers["records"]


def test_seed_warns_and_continues_when_routes_are_not_written_yet(stack: LocalStack) -> None:
    admin = stack.functions["AdminFunction"].module
    admin.ANSWERS["/v1/companies"] = (201, {"companyId": "co_1", "userId": "usr_1", "adminToken": "lsk_admin"})

    demo = seed_demo_company(stack.api_url, stack.admin_api_key)

    assert demo.company_id == "co_1"
    assert demo.token == "lsk_admin"
    assert len(demo.warnings) == len(DIRECTORY) + 1


def test_seed_fails_loudly_when_the_api_refuses_the_data(stack: LocalStack) -> None:
    admin = stack.functions["AdminFunction"].module
    admin.ANSWERS["/v1/companies"] = (201, {"companyId": "co_1", "userId": "usr_1", "adminToken": "lsk_admin"})
    admin.ANSWERS["/v1/directory/{kind}"] = (400, {"code": "ValidationFailed", "message": "records[0].code: bad"})

    with pytest.raises(SeedError, match=r"400.*records\[0\]\.code: bad"):
        seed_demo_company(stack.api_url, stack.admin_api_key)
