"""Routes: the directory (bulk upsert and listing) and the Komet list methods that read it."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.domain.accounts import Role
from ledgersync.domain.directory import Kind, KindLiteral

router = Router()
KOMET_LISTS = {
    "customer": Kind.CUSTOMERS,
    "carrier": Kind.CARRIERS,
    "location": Kind.LOCATIONS,
    "product": Kind.PRODUCTS,
    "boxtype": Kind.BOX_TYPES,
    "inventory": Kind.INVENTORY,
}
WRITERS = {Role.ADMIN, Role.PROCUREMENT, Role.PROCUREMENT_MANAGER, Role.ACCOUNTING, Role.ACCOUNTS_PAYABLE}


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


@router.put("/v1/directory/<kind>", summary="Upsert up to 1,000 records of one kind, all or nothing")
def upsert_records(kind: Annotated[KindLiteral, Path()], request: DirectoryUpsert) -> Response[Any]:
    principal = caller(router, "directory.write")
    principal.require_role(WRITERS, "change the directory")
    result = bootstrap.services().directory.upsert(principal.company_id, Kind(kind), request.records)
    return json_response(200, result.model_dump(by_alias=True))


@router.get("/v1/directory/<kind>", summary="List the records of one kind, a page at a time")
def list_records(
    kind: Annotated[KindLiteral, Path()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=60)] = None,
) -> Response[Any]:
    principal = caller(router, "directory.read")
    records, next_cursor = bootstrap.services().directory.page(principal.company_id, Kind(kind), limit, cursor)
    return json_response(200, {"kind": kind, "records": records, "nextCursor": next_cursor})


def _komet_list(method: str, request: KometListRequest) -> Response[Any]:
    kind = KOMET_LISTS[method]
    principal = caller(router, f"{method}.list")
    records = bootstrap.services().directory.candidates(principal.company_id, kind, request.id, request.code)
    matches = [r for r in records if _matches(r, request)]
    return json_response(200, {"status": "1", "message": "success", _plural(kind): matches})


def _matches(record: dict[str, Any], request: KometListRequest) -> bool:
    if request.id is not None and int(record.get("id", record.get("orderItemId", 0))) != request.id:
        return False
    code = str(record.get("code", record.get("productCode", "")))
    if request.code is not None and code.casefold() != request.code.casefold():
        return False
    if request.name is not None and request.name.casefold() not in str(record.get("name", "")).casefold():
        return False
    return request.include_inactive or record.get("active", True) is not False


def _plural(kind: Kind) -> str:
    return {Kind.BOX_TYPES: "boxTypes", Kind.INVENTORY: "inventory"}.get(kind, kind.value)


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

    summary = f"Komet {method}.list"
    router.post(f"/api/{method}.list", summary=summary)(post_list)
    router.get(f"/api/{method}.list", summary=summary)(get_list)


for _method in KOMET_LISTS:
    _register(_method)
