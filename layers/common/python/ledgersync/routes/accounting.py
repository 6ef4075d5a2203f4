"""Routes: accounting settings and the connection to the external system."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from ledgersync import bootstrap
from ledgersync.api import caller
from ledgersync.domain.accounts import Role
from ledgersync.domain.settings import AccountingSettings

router = Router()
SETUP_ROLES = {Role.ADMIN}


@router.get("/v1/accounting/settings", summary="The company's accounting settings")
def get_accounting_settings() -> dict[str, Any]:
    principal = caller(router, "accounting.read")
    return bootstrap.settings_store().get_settings(principal.company_id).model_dump(mode="json", by_alias=True)


@router.put("/v1/accounting/settings", summary="Choose the external system, bill mappings, classes, e-mails")
def put_accounting_settings(request: AccountingSettings) -> dict[str, Any]:
    principal = caller(router, "accounting.write")
    principal.require_role(SETUP_ROLES, "change the accounting settings")
    store = bootstrap.settings_store()
    current = store.get_settings(principal.company_id)
    merged = current.model_copy(update=request.model_dump(exclude_unset=True))
    store.put_settings(principal.company_id, merged)
    return merged.model_dump(mode="json", by_alias=True)


@router.get("/v1/accounting/connection", summary="Which external system, and whether it is connected")
def get_connection() -> dict[str, Any]:
    principal = caller(router, "accounting.read")
    store = bootstrap.settings_store()
    connection = store.get_connection(principal.company_id)
    connection.external_system = store.get_settings(principal.company_id).external_system
    return connection.model_dump(mode="json", by_alias=True)
