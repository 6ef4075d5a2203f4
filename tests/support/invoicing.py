"""Invoicing on the in-memory stores, and racing two requests, as several unit test modules need them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.directory import Directory, Kind
from ledgersync.domain.invoices import InvoiceCreateRequest, Invoices, SalesInvoice
from ledgersync.errors import Conflict
from tests.fakes import InMemoryAccountStore, InMemoryDirectoryStore, InMemoryInvoiceStore

T = TypeVar("T")


@dataclass(frozen=True)
class InvoicingOnFakes:
    """A company, its directory and the invoice use case over the in-memory stores."""

    company_id: str
    directory: Directory
    store: InMemoryInvoiceStore
    invoices: Invoices


def invoicing_on_fakes(available_boxes: int = 5, **invoice_options: Any) -> InvoicingOnFakes:
    """A company whose directory has a customer (7), a carrier (4) and one inventory line (9, ``available_boxes``)
    on the in-memory stores; the invoice store reads the directory's records. ``invoice_options`` go to
    ``Invoices`` (a clock, say)."""
    accounts = InMemoryAccountStore()
    company_id = Accounts(accounts).create_company(CompanyCreate(name="Demo Flowers")).company_id
    records = InMemoryDirectoryStore()
    directory = Directory(records)
    directory.upsert(company_id, Kind.CUSTOMERS, [{"id": 7, "code": "ANG", "name": "Ang"}])
    directory.upsert(company_id, Kind.CARRIERS, [{"id": 4, "code": "AR", "name": "Armellini"}])
    line = {"orderItemId": 9, "productCode": "RSAS60", "boxTypeCode": "HB", "unitsPerBox": 6, "unitType": "Bunch"}
    directory.upsert(company_id, Kind.INVENTORY, [{**line, "availableBoxes": available_boxes}])
    store = InMemoryInvoiceStore(accounts, records.records)
    return InvoicingOnFakes(company_id, directory, store, Invoices(store, directory, **invoice_options))


def confirmed_order(
    invoices: Invoices, directory: Directory, company_id: str, store_code: str | None, line: int, available_boxes: int
) -> int:
    """A Confirmed invoice of one box of inventory line ``line`` (added with ``available_boxes``) in the store, for
    customer 7 and carrier 4; answers its id."""
    directory.upsert(
        company_id,
        Kind.INVENTORY,
        [
            {
                "orderItemId": line,
                "productCode": "RSAS60",
                "boxTypeCode": "HB",
                "unitsPerBox": 6,
                "unitType": "Bunch",
                "availableBoxes": available_boxes,
            }
        ],
    )
    created = invoices.create(
        company_id,
        "U1",
        InvoiceCreateRequest(
            customerId=7,
            carrierId=4,
            storeCode=store_code or None,
            shipDate="2026-12-10",
            items=[{"orderItemId": line, "boxes": 1, "price": "12.50"}],
        ),
    )
    assert created.invoice_id is not None
    invoices.confirm(company_id, created.invoice_id)
    return created.invoice_id


def race(attempt: Callable[[T], SalesInvoice], arguments: Iterable[T]) -> tuple[list[SalesInvoice], list[Conflict]]:
    """Run ``attempt`` once per argument, each on its own thread, all at once; the invoices that won and the
    conflicts that refused the others."""
    won: list[SalesInvoice] = []
    lost: list[Conflict] = []

    def run(argument: T) -> None:
        try:
            won.append(attempt(argument))
        except Conflict as refused:
            lost.append(refused)

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, lost
