"""Routes: accounting settings and the connection to the external system."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.config import get_settings
from ledgersync.domain.accounts import Role
from ledgersync.domain.settings import AccountingSettings
from ledgersync.domain.webhooks.endpoint import WEBHOOK_SETUP_ROLES, WebhookConfigRequest
from ledgersync.errors import DamagedRecord
from ledgersync.public_url import WEB_CONNECTOR_PATH, public_url

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
    try:
        current = store.get_settings(principal.company_id)
    except DamagedRecord:
        current = AccountingSettings()  # settings that no longer parse are replaced whole: the way to repair them
    merged = current.model_copy(update=request.model_dump(exclude_unset=True))
    store.put_settings(principal.company_id, merged)
    return merged.model_dump(mode="json", by_alias=True)


@router.get("/v1/accounting/connection", summary="Which external system, and whether it is connected")
def get_connection() -> dict[str, Any]:
    principal = caller(router, "accounting.read")
    store = bootstrap.settings_store()
    settings, connection = store.get_accounting(principal.company_id)
    connection.external_system = settings.external_system
    return connection.model_dump(mode="json", by_alias=True)


@router.get("/v1/accounting/quickbooks-desktop/qwc", summary="Download the .qwc file for the QuickBooks Web Connector")
def download_qwc() -> Response[Any]:
    from ledgersync.adapters.quickbooks_desktop import render_qwc

    principal = caller(router, "accounting.read")
    principal.require_role(SETUP_ROLES, "download the QuickBooks Web Connector file")
    company = bootstrap.account_store().get_company(principal.company_id)
    name = company.name if company else principal.company_id
    settings = get_settings()
    body = render_qwc(
        principal.company_id,
        name,
        principal.company_id,
        endpoint_url(router, WEB_CONNECTOR_PATH),
        settings.qbwc_run_every_minutes,
    )
    return Response(
        status_code=200,
        content_type="application/xml",
        body=body.decode(),
        headers={"Content-Disposition": 'attachment; filename="ledgersync.qwc"'},
    )


def endpoint_url(app: Router, path: str) -> str:
    """This deployment's public URL of ``path``, by the one rule of ``ledgersync.public_url``."""
    event = app.current_event
    stage = str((event.raw_event.get("requestContext") or {}).get("stage") or "")
    return public_url(path, get_settings().public_base_url, dict(event.headers or {}), stage)


@router.get("/v1/accounting/quickbooks-online/authorize", summary="The Intuit URL that connects QuickBooks Online")
def authorize_quickbooks_online() -> Response[Any]:
    principal = caller(router, "accounting.write")
    redirect = endpoint_url(router, "/v1/accounting/quickbooks-online/callback")
    return json_response(200, bootstrap.qbo_connection().authorize(principal, redirect))


@router.get("/v1/accounting/quickbooks-online/callback", summary="Intuit's redirect after the user approves")
def quickbooks_online_callback(
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=128)] = None,
    realm_id: Annotated[str | None, Query(alias="realmId", max_length=32)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response[Any]:
    connection = bootstrap.qbo_connection().callback(code, state, realm_id, error)
    return json_response(
        200,
        {
            "message": "QuickBooks Online is connected; held work is on its way.",
            **connection.model_dump(mode="json", by_alias=True),
        },
    )


@router.post("/v1/accounting/quickbooks-online/disconnect", summary="Revoke the QuickBooks Online connection")
def disconnect_quickbooks_online() -> Response[Any]:
    connection = bootstrap.qbo_connection().disconnect(caller(router, "accounting.write"))
    return json_response(200, connection.model_dump(mode="json", by_alias=True))


@router.put("/v1/webhooks/po-reconciliation", summary="Set up the PO Reconciliation webhook (seed 001)")
def put_po_reconciliation_webhook(request: WebhookConfigRequest) -> Response[Any]:
    principal = caller(router, "accounting.write")
    principal.require_role(set(WEBHOOK_SETUP_ROLES), "set up the PO Reconciliation webhook")
    view = bootstrap.webhook_setup().configure_webhook(principal.company_id, request)
    return json_response(200, view.model_dump(mode="json", by_alias=True, exclude_none=True))


@router.get("/v1/webhooks/po-reconciliation", summary="The webhook set-up, secrets masked")
def get_po_reconciliation_webhook() -> Response[Any]:
    principal = caller(router, "accounting.read")
    view = bootstrap.webhook_setup().get_webhook(principal.company_id)
    return json_response(200, view.model_dump(mode="json", by_alias=True, exclude_none=True))
