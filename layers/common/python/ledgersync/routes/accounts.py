"""Routes: companies (operator, by admin key), users and tokens."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.domain.accounts import (
    CompanyCreate,
    CompanyCreated,
    TokenCreate,
    TokenCreated,
    UserCreate,
    UserCreated,
)
from ledgersync.domain.company_health import CompanyHealth
from ledgersync.domain.operator import ADMIN_KEY_HEADER
from ledgersync.routes.service import described

router = Router()


@router.post(
    "/v1/companies",
    summary="Create a company and its first Admin user (operator only)",
    responses=described(CompanyCreated, 201),
)
def create_company(
    request: CompanyCreate, admin_key: Annotated[str | None, Header(alias=ADMIN_KEY_HEADER)] = None
) -> Response[Any]:
    created = bootstrap.services().operator.create_company(admin_key, request)
    return json_response(201, created.model_dump(by_alias=True))


@router.get(
    "/v1/companies/<company_id>/health",
    summary="A company's connection, POs queued/held/in error and last Web Connector session (operator only)",
    responses=described(CompanyHealth),
)
def company_health(
    company_id: Annotated[str, Path(min_length=1, max_length=40)],
    admin_key: Annotated[str | None, Header(alias=ADMIN_KEY_HEADER)] = None,
) -> Response[Any]:
    health = bootstrap.services().operator.company_health(admin_key, company_id)
    return json_response(200, health.model_dump(mode="json", by_alias=True))


@router.post(
    "/v1/users",
    summary="Add a user with roles; answers the user's token (shown once)",
    responses=described(UserCreated, 201),
)
def create_user(request: UserCreate) -> Response[Any]:
    created = bootstrap.services().accounts.create_user(caller(router, "user.create"), request)
    return json_response(201, created.model_dump(by_alias=True))


@router.post(
    "/v1/tokens",
    summary="Issue a token limited to API methods; none = Web Connector password only",
    responses=described(TokenCreated, 201),
)
def create_token(request: TokenCreate) -> Response[Any]:
    created = bootstrap.services().accounts.create_token(caller(router, "token.create"), request)
    return json_response(201, created.model_dump(by_alias=True))


@router.delete("/v1/tokens/<token_id>", summary="Revoke a token")
def revoke_token(token_id: Annotated[str, Path(min_length=1, max_length=40)]) -> Response[Any]:
    bootstrap.services().accounts.revoke_token(caller(router, "token.revoke"), token_id)
    return Response(status_code=204)
