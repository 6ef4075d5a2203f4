"""Routes: invoice.create (seed 002), invoice.checkout, invoice reads, changes, the lifecycle (confirm, ship,
unship) and sending to accounting (send now, send again, and an order not shipped yet as a sales order)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.domain.invoices import (
    AccountingStatus,
    CheckoutAnswer,
    CheckoutRequest,
    InvoiceChangeRequest,
    InvoiceCreateRequest,
    InvoiceCreateResponse,
    InvoicePage,
    SalesInvoice,
    ShipRequest,
)
from ledgersync.domain.sales_invoice_sync import AccountingAnswer, SendAgainRequest
from ledgersync.domain.sales_orders import SalesOrderAnswer, SendSalesOrderRequest
from ledgersync.observability import metrics
from ledgersync.routes.service import answered, described

router = Router()


@router.post(
    "/api/invoice.create",
    summary="Create an invoice (Komet invoice.create)",
    responses=described(InvoiceCreateResponse, 201),
)
def create_invoice(request: InvoiceCreateRequest) -> Response[Any]:
    principal = caller(router, "invoice.create")
    headers = router.current_event.headers
    key = headers.get("Idempotency-Key") or headers.get("idempotency-key")
    answer = bootstrap.services().invoices.create(principal.company_id, principal.user_id, request, idempotency_key=key)
    # No invoice (no item got a box) is a 409 with seed 002's answer: what each item could have had.
    status = 201 if answer.invoice_id is not None else 409
    if status == 201:
        metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=1)
    return json_response(status, answer.body())


@router.post(
    "/api/invoice.checkout",
    summary="Move a Draft invoice to Pending Approval (Komet invoice.checkout)",
    responses=described(CheckoutAnswer),
)
def checkout_invoice(request: CheckoutRequest) -> Response[Any]:
    principal = caller(router, "invoice.checkout")
    answer = bootstrap.services().invoices.checkout(principal.company_id, request.invoice_number)
    return answered(answer)


@router.get("/v1/invoices", summary="List invoices, oldest first, a page at a time", responses=described(InvoicePage))
def list_invoices(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[int | None, Query(ge=1, alias="cursor")] = None,
    sent_to_accounting: Annotated[
        bool | None,
        Query(alias="sentToAccounting", description="false: every invoice not sent to accounting; true: the sent"),
    ] = None,
    accounting_status: Annotated[
        AccountingStatus | None, Query(alias="accountingStatus", description="one accounting status")
    ] = None,
) -> Response[Any]:
    principal = caller(router, "invoice.list")
    page = bootstrap.services().invoices.list(principal.company_id, limit, after, sent_to_accounting, accounting_status)
    return answered(page)


@router.get(
    "/v1/invoices/<invoice_id>",
    summary="One invoice with its lines and both currency amounts",
    responses=described(SalesInvoice),
)
def get_invoice(invoice_id: Annotated[int, Path(ge=1)]) -> Response[Any]:
    principal = caller(router, "invoice.get")
    return answered(bootstrap.services().invoices.get(principal.company_id, invoice_id))


@router.post(
    "/v1/invoices/<invoice_id>/confirm",
    summary="Confirm an invoice: Pending Approval to Confirmed",
    responses=described(SalesInvoice),
)
def confirm_invoice(invoice_id: Annotated[int, Path(ge=1)]) -> Response[Any]:
    principal = caller(router, "invoice.confirm")
    answer = bootstrap.services().invoices.confirm(principal.company_id, invoice_id)
    return answered(answer)


@router.post(
    "/v1/invoices/<invoice_id>/ship",
    summary="Ship an invoice: Confirmed to Shipped, on shipDate (today, UTC, when not given)",
    responses=described(SalesInvoice),
)
def ship_invoice(invoice_id: Annotated[int, Path(ge=1)], request: ShipRequest | None = None) -> Response[Any]:
    principal = caller(router, "invoice.ship")
    answer = bootstrap.services().invoices.ship(principal.company_id, invoice_id, request or ShipRequest())
    return answered(answer)


@router.post(
    "/v1/invoices/<invoice_id>/unship",
    summary="Unship an invoice: Shipped back to Confirmed, so that it can be changed again",
    responses=described(SalesInvoice),
)
def unship_invoice(invoice_id: Annotated[int, Path(ge=1)]) -> Response[Any]:
    principal = caller(router, "invoice.unship")
    answer = bootstrap.services().invoices.unship(principal.company_id, invoice_id)
    return answered(answer)


@router.put(
    "/v1/invoices/<invoice_id>",
    summary="Change an invoice's items and additional charges (as invoice.create takes them) while it is not Shipped",
    responses=described(SalesInvoice),
)
def change_invoice(invoice_id: Annotated[int, Path(ge=1)], request: InvoiceChangeRequest) -> Response[Any]:
    principal = caller(router, "invoice.update")
    answer = bootstrap.services().invoices.change(principal.company_id, principal.user_id, invoice_id, request)
    return answered(answer)


@router.post(
    "/v1/invoices/<invoice_id>/send-now",
    summary="Send a Shipped invoice to accounting at once (cancels its automatic send)",
    responses=described(AccountingAnswer, 202),
)
def send_invoice_now(invoice_id: Annotated[int, Path(ge=1)]) -> Response[Any]:
    principal = caller(router, "invoice.send-now")
    return answered(bootstrap.services().sales_invoice_sync.send_now(principal.company_id, invoice_id), 202)


@router.post(
    "/v1/invoices/<invoice_id>/send-again",
    summary="Send an invoice to accounting again (with replace, delete the accounting invoice first)",
    responses=described(AccountingAnswer, 202),
)
def send_invoice_again(
    invoice_id: Annotated[int, Path(ge=1)], request: SendAgainRequest | None = None
) -> Response[Any]:
    principal = caller(router, "invoice.send-again")
    answer = bootstrap.services().sales_invoice_sync.send_again(
        principal.company_id, invoice_id, request or SendAgainRequest()
    )
    return answered(answer, 202)


@router.post(
    "/v1/invoices/<invoice_id>/send-sales-order",
    summary="Send an order not shipped yet to accounting as a sales order (QuickBooks Online: an Estimate)",
    responses=described(SalesOrderAnswer, 202),
)
def send_sales_order(
    invoice_id: Annotated[int, Path(ge=1)], request: SendSalesOrderRequest | None = None
) -> Response[Any]:
    principal = caller(router, "invoice.send-sales-order")
    return answered(bootstrap.services().sales_order_sync.send(principal.company_id, invoice_id), 202)
