"""invoice.create at the use-case level: the answer is a model (the route picks 201 or 409 from it), and a key's
first answer is replayed for the same request only (the fingerprint is the use case's, not the route's)."""

from __future__ import annotations

from datetime import date

import pytest

from ledgersync.domain.invoices import InvoiceCreateRequest, Invoices
from ledgersync.errors import ValidationFailed
from tests.fakes import InMemoryInvoiceStore
from tests.support.invoicing import invoicing_on_fakes


def invoices_with(available_boxes: int) -> tuple[Invoices, InMemoryInvoiceStore, str]:
    """The invoice use case, its store and the company of ``invoicing_on_fakes``."""
    books = invoicing_on_fakes(available_boxes)
    return books.invoices, books.store, books.company_id


def request(boxes: int) -> InvoiceCreateRequest:
    return InvoiceCreateRequest(
        customerId=7, carrierId=4, shipDate=date(2026, 12, 10), items=[{"orderItemId": 9, "boxes": boxes, "price": 1}]
    )


def test_the_answer_has_the_invoice_when_an_item_got_boxes_and_none_when_no_item_did() -> None:
    # Given 3 boxes
    invoices, _, company = invoices_with(available_boxes=3)

    # When 3 are taken, and then 1 more is asked for
    created = invoices.create(company, "U1", request(3))
    refused = invoices.create(company, "U1", request(1))

    # Then the first answer names the invoice; the second has none (the route's 409) and says what was available
    assert (created.status, created.invoice_id, created.invoice_number) == ("1", 1, 1)
    assert (refused.status, refused.message, refused.invoice_id) == ("0", "Item is not available", None)
    assert refused.items[0].available_boxes == 0


def test_a_key_replays_its_first_answer_for_the_same_request_and_refuses_another_when_reused() -> None:
    # Given an invoice created under a key
    invoices, store, company = invoices_with(available_boxes=5)
    first = invoices.create(company, "U1", request(2), idempotency_key="k-1")

    # When the same request comes again under the key, then it gets the first answer and nothing is written
    assert invoices.create(company, "U1", request(2), idempotency_key="k-1") == first
    assert len(store.invoices) == 1

    # And another request under the key is refused, naming the key
    with pytest.raises(ValidationFailed) as refused:
        invoices.create(company, "U1", request(3), idempotency_key="k-1")
    assert refused.value.field_errors[0].field == "Idempotency-Key"
    assert len(store.invoices) == 1
