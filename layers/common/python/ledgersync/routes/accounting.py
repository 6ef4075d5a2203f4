"""Routes: accounting settings and the connection to the external system."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from ledgersync import bootstrap
from ledgersync.api import caller
from ledgersync.domain.accounting_export import ExportPreview, ExportStarted
from ledgersync.domain.qbo_connection import QuickBooksOnlineAuthorization, QuickBooksOnlineConnected
from ledgersync.domain.settings import AccountingSettings, Connection
from ledgersync.domain.webhooks.endpoint import WEBHOOK_SETUP_ROLES, WebhookConfigRequest, WebhookConfigView
from ledgersync.public_url import WEB_CONNECTOR_PATH, public_url
from ledgersync.routes.service import answered, described

router = Router()


@router.get(
    "/v1/accounting/settings", summary="The company's accounting settings", responses=described(AccountingSettings)
)
def get_accounting_settings() -> Response[Any]:
    settings = bootstrap.services().accounting_settings.read(caller(router, "accounting.read"))
    return answered(settings, mode="json")


@router.put(
    "/v1/accounting/settings",
    summary="Choose the external system, bill mappings, classes, e-mails",
    responses=described(AccountingSettings),
)
def put_accounting_settings(request: AccountingSettings) -> Response[Any]:
    merged = bootstrap.services().accounting_settings.change(caller(router, "accounting.write"), request)
    return answered(merged, mode="json")


@router.get(
    "/v1/accounting/connection",
    summary="Which external system, and whether it is connected",
    responses=described(Connection),
)
def get_connection() -> Response[Any]:
    connection = bootstrap.services().accounting_settings.connection(caller(router, "accounting.read"))
    return answered(connection, mode="json")


@router.get(
    "/v1/accounting/export/preview",
    summary="What the Sales Invoice Export would match or add, and send",
    responses=described(ExportPreview),
)
def preview_export() -> Response[Any]:
    preview = bootstrap.services().export_candidates.preview(caller(router, "accounting.read"))
    return answered(preview)


@router.post(
    "/v1/accounting/export",
    summary="Start the Sales Invoice Export (its process log entry is the runId)",
    responses=described(ExportStarted, 202),
)
def start_export() -> Response[Any]:
    started = bootstrap.services().sales_invoice_export.start(caller(router, "accounting.write"))
    return answered(started, 202)


@router.get("/v1/accounting/quickbooks-desktop/qwc", summary="Download the .qwc file for the QuickBooks Web Connector")
def download_qwc() -> Response[Any]:
    principal = caller(router, "accounting.read")
    qwc = bootstrap.services().accounting_settings.web_connector_file(
        principal, endpoint_url(router, WEB_CONNECTOR_PATH)
    )
    return Response(
        status_code=200,
        content_type="application/xml",
        body=qwc.body.decode(),
        headers={"Content-Disposition": f'attachment; filename="{qwc.file_name}"'},
    )


def endpoint_url(app: Router, path: str) -> str:
    """This deployment's public URL of ``path``, by the one rule of ``ledgersync.public_url``."""
    event = app.current_event
    stage = str((event.raw_event.get("requestContext") or {}).get("stage") or "")
    return public_url(path, bootstrap.services().settings.public_base_url, dict(event.headers or {}), stage)


@router.get(
    "/v1/accounting/quickbooks-online/authorize",
    summary="The Intuit URL that connects QuickBooks Online",
    responses=described(QuickBooksOnlineAuthorization),
)
def authorize_quickbooks_online() -> Response[Any]:
    principal = caller(router, "accounting.write")
    redirect = endpoint_url(router, "/v1/accounting/quickbooks-online/callback")
    authorization = bootstrap.services().qbo_connection.authorize(principal, redirect)
    return answered(authorization, mode="json")


@router.get(
    "/v1/accounting/quickbooks-online/callback",
    summary="Intuit's redirect after the user approves",
    responses=described(QuickBooksOnlineConnected),
)
def quickbooks_online_callback(
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=128)] = None,
    realm_id: Annotated[str | None, Query(alias="realmId", max_length=32)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response[Any]:
    connection = bootstrap.services().qbo_connection.callback(code, state, realm_id, error)
    return answered(QuickBooksOnlineConnected.of(connection), mode="json")


@router.post(
    "/v1/accounting/quickbooks-online/disconnect",
    summary="Revoke the QuickBooks Online connection",
    responses=described(Connection),
)
def disconnect_quickbooks_online() -> Response[Any]:
    connection = bootstrap.services().qbo_connection.disconnect(caller(router, "accounting.write"))
    return answered(connection, mode="json")


@router.put(
    "/v1/webhooks/po-reconciliation",
    summary="Set up the PO Reconciliation webhook (seed 001)",
    responses=described(WebhookConfigView),
)
def put_po_reconciliation_webhook(request: WebhookConfigRequest) -> Response[Any]:
    principal = caller(router, "accounting.write")
    principal.require_role(set(WEBHOOK_SETUP_ROLES), "set up the PO Reconciliation webhook")
    view = bootstrap.services().webhook_setup.configure_webhook(principal.company_id, request)
    return answered(view, mode="json", exclude_none=True)


@router.get(
    "/v1/webhooks/po-reconciliation",
    summary="The webhook set-up, secrets masked",
    responses=described(WebhookConfigView),
)
def get_po_reconciliation_webhook() -> Response[Any]:
    principal = caller(router, "accounting.read")
    view = bootstrap.services().webhook_setup.get_webhook(principal.company_id)
    return answered(view, mode="json", exclude_none=True)
