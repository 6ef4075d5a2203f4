"""invoice.create at the use-case level: the answer is a model (the route picks 201 or 409 from it), and a key's
first answer is replayed for the same request only (the fingerprint is the use case's, not the route's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from ledgersync.domain.invoices import CommitPlan, InvoiceCreateRequest, Invoices, Lookup, Snapshot
from ledgersync.errors import ValidationFailed

CUSTOMER = {"id": 7, "code": "ANG", "name": "Ang"}
CARRIER = {"id": 4, "code": "AR", "name": "Armellini"}
LINE = {"orderItemId": 9, "productCode": "RSAS60", "boxTypeCode": "HB", "unitsPerBox": 6, "unitType": "Bunch"}


class InMemoryInvoiceStore:
    """One company with one customer, one carrier and one inventory line; ``committed`` records every write."""

    def __init__(self, available_boxes: int) -> None:
        self.available = available_boxes
        self.committed: list[CommitPlan] = []
        self.replays: dict[str, dict[str, Any]] = {}

    def read(self, company_id: str, lookup: Lookup) -> Snapshot:
        counter = self.committed[-1].next_counter if self.committed else {}
        return Snapshot(
            company={"currency": "USD"},
            counter=dict(counter),
            rates=[],
            customer=CUSTOMER,
            unknown_customer=None,
            carrier=CARRIER,
            location=None,
            inventory={9: {**LINE, "availableBoxes": self.available}} if 9 in lookup.order_item_ids else {},
            presentations={},
            charges={},
            replay=self.replays.get(lookup.idempotency_key or ""),
        )

    def read_inventory(self, company_id: str, order_item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return {}

    def commit(self, plan: CommitPlan) -> None:
        self.committed.append(plan)
        self.available -= sum(take.boxes for take in plan.takes)
        if plan.idempotency_key and plan.idempotency_record:
            self.replays[plan.idempotency_key] = plan.idempotency_record

    def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None:
        return None

    def get_by_number(self, company_id: str, invoice_number: int) -> dict[str, Any] | None:
        return None

    def set_status(self, company_id: str, invoice_id: int, expected: str, status: str) -> dict[str, Any]:
        return {}

    def list(self, company_id: str, limit: int, after: int | None) -> tuple[list[dict[str, Any]], int | None]:
        return [], None


class NoDirectory:
    def add_named(self, company_id: str, kind: str, code: str, name: str) -> dict[str, Any]:
        raise AssertionError("nothing is added to the directory here")


def request(boxes: int) -> InvoiceCreateRequest:
    return InvoiceCreateRequest(
        customerId=7, carrierId=4, shipDate=date(2026, 12, 10), items=[{"orderItemId": 9, "boxes": boxes, "price": 1}]
    )


def test_the_answer_has_the_invoice_when_an_item_got_boxes_and_none_when_no_item_did() -> None:
    # Given 3 boxes
    invoices = Invoices(InMemoryInvoiceStore(available_boxes=3), NoDirectory())

    # When 3 are taken, and then 1 more is asked for
    created = invoices.create("C1", "U1", request(3))
    refused = invoices.create("C1", "U1", request(1))

    # Then the first answer names the invoice; the second has none (the route's 409) and says what was available
    assert (created.status, created.invoice_id, created.invoice_number) == ("1", 1, 1)
    assert (refused.status, refused.message, refused.invoice_id) == ("0", "Item is not available", None)
    assert refused.items[0].available_boxes == 0


def test_a_key_replays_its_first_answer_for_the_same_request_and_refuses_another_when_reused() -> None:
    # Given an invoice created under a key
    store = InMemoryInvoiceStore(available_boxes=5)
    invoices = Invoices(store, NoDirectory())
    first = invoices.create("C1", "U1", request(2), idempotency_key="k-1")

    # When the same request comes again under the key, then it gets the first answer and nothing is written
    assert invoices.create("C1", "U1", request(2), idempotency_key="k-1") == first
    assert len(store.committed) == 1

    # And another request under the key is refused, naming the key
    with pytest.raises(ValidationFailed) as refused:
        invoices.create("C1", "U1", request(3), idempotency_key="k-1")
    assert refused.value.field_errors[0].field == "Idempotency-Key"
    assert len(store.committed) == 1
