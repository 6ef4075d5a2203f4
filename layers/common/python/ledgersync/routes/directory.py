"""Routes: the directory (bulk upsert and listing) and the Komet list methods that read it."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.domain.accounting_links import LINKED_KINDS
from ledgersync.domain.directory import (
    KOMET_LIST_ANSWERS,
    KOMET_LISTS,
    DirectoryPage,
    Kind,
    KindLiteral,
    KometListFilter,
    UpsertResult,
)
from ledgersync.routes.service import described

router = Router()


class DirectoryUpsert(BaseModel):
    """Up to 1,000 records of one kind; all are validated before any is written."""

    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(min_length=1)


class KometListRequest(BaseModel):
    """Filters of the Komet list methods (customer.list: id and code exact, name contains, includeInactive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    authentication_token: str | None = Field(default=None, alias="authenticationToken", max_length=50)
    id: int | None = Field(default=None, ge=1)
    code: str | None = Field(default=None, max_length=20)
    name: str | None = Field(default=None, max_length=200)
    include_inactive: bool = Field(default=False, alias="includeInactive")


@router.put(
    "/v1/directory/<kind>",
    summary="Upsert up to 1,000 records of one kind, all or nothing",
    responses=described(UpsertResult),
)
def upsert_records(kind: Annotated[KindLiteral, Path()], request: DirectoryUpsert) -> Response[Any]:
    result = bootstrap.services().directory.change(caller(router, "directory.write"), Kind(kind), request.records)
    return json_response(200, result.model_dump(by_alias=True))


@router.get(
    "/v1/directory/<kind>",
    summary="List the records of one kind, a page at a time",
    responses=described(DirectoryPage),
)
def list_records(
    kind: Annotated[KindLiteral, Path()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=60)] = None,
) -> Response[Any]:
    principal = caller(router, "directory.read")
    services = bootstrap.services()
    page = services.directory.list_page(principal.company_id, Kind(kind), limit, cursor)
    if Kind(kind) in LINKED_KINDS:  # customers and products show their accounting link (issue 12)
        system = services.settings_store.get_settings(principal.company_id).external_system
        page.records = services.accounting_links.shown(principal.company_id, Kind(kind), page.records, system)
    return json_response(200, page.model_dump(by_alias=True))


def _komet_list(method: str, request: KometListRequest) -> Response[Any]:
    principal = caller(router, f"{method}.list")
    wanted = KometListFilter(request.id, request.code, request.name, request.include_inactive)
    return json_response(
        200, bootstrap.services().directory.komet_list(principal.company_id, method, wanted).model_dump()
    )


def _register(method: str) -> None:
    def post_list(request: KometListRequest) -> Response[Any]:
        return _komet_list(method, request)

    def get_list(
        authentication_token: Annotated[str | None, Query(alias="authenticationToken")] = None,
        id: Annotated[int | None, Query(ge=1)] = None,  # noqa: A002 - Komet's parameter name
        code: Annotated[str | None, Query(max_length=20)] = None,
        name: Annotated[str | None, Query(max_length=200)] = None,
        include_inactive: Annotated[bool, Query(alias="includeInactive")] = False,
    ) -> Response[Any]:
        return _komet_list(
            method,
            KometListRequest.model_validate(
                {
                    "authenticationToken": authentication_token,
                    "id": id,
                    "code": code,
                    "name": name,
                    "includeInactive": include_inactive,
                }
            ),
        )

    summary, answer = f"Komet {method}.list", described(KOMET_LIST_ANSWERS[method])
    router.post(f"/api/{method}.list", summary=summary, responses=answer)(post_list)
    router.get(f"/api/{method}.list", summary=summary, responses=answer)(get_list)


for _method in KOMET_LISTS:
    _register(_method)
