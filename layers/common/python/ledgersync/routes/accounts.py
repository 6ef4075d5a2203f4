"""Routes: companies (operator, by admin key), users and tokens."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.domain.accounts import CompanyCreate, TokenCreate, UserCreate, admin_key_matches
from ledgersync.errors import FieldError, Unauthorized

router = Router()
ADMIN_KEY_HEADER = "X-Admin-Key"
ADMIN_KEY_REFUSED = "X-Admin-Key is missing or wrong: send the admin API key (the stack output AdminApiKeySecretArn)"


@router.post("/v1/companies", summary="Create a company and its first Admin user (operator only)")
def create_company(
    request: CompanyCreate, admin_key: Annotated[str | None, Header(alias="X-Admin-Key")] = None
) -> Response[Any]:
    require_admin_key(admin_key)
    created = bootstrap.services().accounts.create_company(request)
    return json_response(201, created.model_dump(by_alias=True))


@router.get(
    "/v1/companies/<company_id>/health",
    summary="A company's connection, POs queued/held/in error and last Web Connector session (operator only)",
)
def company_health(
    company_id: Annotated[str, Path(min_length=1, max_length=40)],
    admin_key: Annotated[str | None, Header(alias="X-Admin-Key")] = None,
) -> Response[Any]:
    require_admin_key(admin_key)
    health = bootstrap.services().company_health.read(company_id)
    return json_response(200, health.model_dump(mode="json", by_alias=True))


def require_admin_key(given: str | None) -> None:
    """Operator routes: refuse a missing or wrong ``X-Admin-Key`` (compared in constant time), naming the header."""
    if not admin_key_matches(given, bootstrap.services().admin_api_key()):
        raise Unauthorized(ADMIN_KEY_REFUSED, [FieldError(ADMIN_KEY_HEADER, ADMIN_KEY_REFUSED)])


@router.post("/v1/users", summary="Add a user with roles; answers the user's token (shown once)")
def create_user(request: UserCreate) -> Response[Any]:
    created = bootstrap.services().accounts.create_user(caller(router, "user.create"), request)
    return json_response(201, created.model_dump(by_alias=True))


@router.post("/v1/tokens", summary="Issue a token limited to API methods; none = Web Connector password only")
def create_token(request: TokenCreate) -> Response[Any]:
    created = bootstrap.services().accounts.create_token(caller(router, "token.create"), request)
    return json_response(201, created.model_dump(by_alias=True))


@router.delete("/v1/tokens/<token_id>", summary="Revoke a token")
def revoke_token(token_id: Annotated[str, Path(min_length=1, max_length=40)]) -> Response[Any]:
    bootstrap.services().accounts.revoke_token(caller(router, "token.revoke"), token_id)
    return Response(status_code=204)
