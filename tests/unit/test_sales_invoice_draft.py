"""The sales-invoice mapping (issue 10): build_invoice_draft and the document-number rule, on invoices that
invoice.create really makes (the in-memory stores), many of them generated with awkward numbers."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.directory import IMPLICIT_STORE, Directory, Kind
from ledgersync.domain.invoices import InvoiceCreateRequest, Invoices, SalesInvoice
from ledgersync.domain.sales_invoices import (
    DESKTOP_REF_NUMBER_LENGTH,
    ONLINE_DOC_NUMBER_LENGTH,
    InvoiceLineKind,
    build_invoice_draft,
    document_number,
)
from ledgersync.domain.settings import AccountingSettings
from ledgersync.errors import PermanentError
from ledgersync.money import to_cents
from tests.fakes import InMemoryAccountStore, InMemoryDirectoryStore, InMemoryInvoiceStore

CHARGES = {"FRT": "Freight", "BT": "Box Tax", "DSC": "Discount"}
AR_ACCOUNTS = {"EUR": "Accounts Receivable - EUR"}
SETTINGS = AccountingSettings(invoice_charge_items=CHARGES, ar_account_by_currency=AR_ACCOUNTS)


class Company:
    """A company on the in-memory stores with a USD customer (7), a EUR one (8), a carrier and a product."""

    def __init__(self) -> None:
        accounts = InMemoryAccountStore()
        self.id = Accounts(accounts).create_company(CompanyCreate(name="Demo Flowers", currency="USD")).company_id
        records = InMemoryDirectoryStore()
        self.directory = Directory(records)
        self.directory.upsert(
            self.id,
            Kind.CUSTOMERS,
            [
                {"id": 7, "code": "ANG", "name": "Ang", "accountingName": "Ang Flowers LLC"},
                {"id": 8, "code": "EUR", "name": "Blumen GmbH", "currency": "EUR"},
            ],
        )
        self.directory.upsert(self.id, Kind.CARRIERS, [{"id": 4, "code": "AR", "name": "Armellini"}])
        self.directory.upsert(
            self.id, Kind.PRODUCTS, [{"id": 1, "code": "RSAS60", "name": "Rose", "accountingItem": "Roses"}]
        )
        self.directory.upsert(
            self.id, Kind.EXCHANGE_RATES, [{"currency": "EUR", "rate": "1.08372913", "effectiveFrom": "2020-01-01"}]
        )
        self.invoices = Invoices(InMemoryInvoiceStore(accounts, records.records), self.directory)
        self.next_line = 100

    def invoice(
        self,
        lines: list[tuple[str, int, int, Decimal]],
        charges: list[tuple[str, Decimal]] = (),  # type: ignore[assignment]
        customer: int = 7,
    ) -> SalesInvoice:
        """An invoice of ``lines`` (product code, units per box, boxes, price), each from a new inventory line."""
        items = []
        for product, units, boxes, price in lines:
            self.next_line += 1
            record = {"orderItemId": self.next_line, "productCode": product, "boxTypeCode": "HB"}
            record |= {"unitsPerBox": units, "unitType": "Stem", "availableBoxes": boxes}
            self.directory.upsert(self.id, Kind.INVENTORY, [record])
            items.append({"orderItemId": self.next_line, "boxes": boxes, "price": price})
        created = self.invoices.create(
            self.id,
            "U1",
            InvoiceCreateRequest(
                customerId=customer,
                carrierId=4,
                shipDate=date(2026, 12, 10),
                items=items,
                additionalCharges=[{"code": c, "value": v} for c, v in charges],
            ),
        )
        assert created.invoice_id is not None
        return self.invoices.get(self.id, created.invoice_id)

    def customer(self, customer_id: int) -> dict[str, Any]:
        found, _ = self.directory.page(self.id, Kind.CUSTOMERS)
        return next(c for c in found if c["id"] == customer_id)

    def products(self) -> dict[str, dict[str, Any]]:
        found, _ = self.directory.page(self.id, Kind.PRODUCTS)
        return {str(p["code"]).upper(): p for p in found}


@pytest.fixture(scope="module")
def company() -> Company:
    return Company()


def draft(company: Company, invoice: SalesInvoice, store: dict[str, Any] | None = None, **settings: Any) -> Any:
    customer = company.customer(int(invoice.customer.id or 0))
    chosen = AccountingSettings(**{"invoice_charge_items": CHARGES, "ar_account_by_currency": AR_ACCOUNTS, **settings})
    rates = company.directory.store.exchange_rates(company.id)
    products = company.products()
    return build_invoice_draft("c1", invoice, customer, store or IMPLICIT_STORE, products, chosen, "USD", rates)


def test_each_item_goes_on_its_products_item_or_the_default_with_boxes_times_units_at_the_unit_price(
    company: Company,
) -> None:
    invoice = company.invoice([("RSAS60", 25, 3, Decimal("0.37")), ("TULIP", 10, 2, Decimal("1.15"))])

    made = draft(company, invoice, invoice_item_name="Fresh Flowers")

    assert [(ln.item_name, ln.quantity, ln.rate, ln.amount) for ln in made.lines] == [
        ("Roses", 75, Decimal("0.37"), Decimal("27.75")),
        ("Fresh Flowers", 20, Decimal("1.15"), Decimal("23.00")),
    ]
    assert made.total == invoice.total == Decimal("50.75")


def test_a_direct_store_bills_the_customers_accounting_name_or_else_its_name(company: Company) -> None:
    named = draft(company, company.invoice([("RSAS60", 1, 1, Decimal(1))], customer=7))
    plain = draft(company, company.invoice([("RSAS60", 1, 1, Decimal(1))], customer=8))

    assert (named.customer_name, plain.customer_name) == ("Ang Flowers LLC", "Blumen GmbH")


def test_a_channel_store_bills_its_accounting_customer_and_refuses_without_one(company: Company) -> None:
    invoice = company.invoice([("RSAS60", 1, 1, Decimal(1))])
    channel = {**IMPLICIT_STORE, "code": "AMZ", "customerMode": "channel", "accountingCustomer": "Amazon"}

    assert draft(company, invoice, channel).customer_name == "Amazon"
    with pytest.raises(PermanentError, match="accountingCustomer with PUT /v1/directory/stores"):
        draft(company, invoice, {**channel, "accountingCustomer": None})


def test_a_charge_without_an_item_refuses_the_draft_naming_the_code_and_the_fix(company: Company) -> None:
    invoice = company.invoice([("RSAS60", 1, 1, Decimal(1))], charges=[("FRT", Decimal(5)), ("XYZ", Decimal(1))])

    with pytest.raises(PermanentError) as refused:
        draft(company, invoice)

    assert "'XYZ'" in refused.value.message and "'FRT'" not in refused.value.message
    assert "PUT /v1/accounting/settings invoiceChargeItems" in refused.value.message


def test_charges_of_tenths_of_a_cent_add_up_to_the_invoice_total_to_the_cent(company: Company) -> None:
    charges = [("FRT", Decimal("0.005")), ("BT", Decimal("0.005")), ("DSC", Decimal("-0.004"))]
    invoice = company.invoice([("RSAS60", 3, 7, Decimal("0.33"))], charges=charges)

    made = draft(company, invoice)

    assert invoice.total == Decimal("6.94")  # 6.93 + round(0.006)
    assert [ln.amount for ln in made.lines if ln.kind is InvoiceLineKind.CHARGE] == [
        Decimal("0.01"),
        Decimal("0.00"),
        Decimal("0.00"),
    ]
    assert made.total == invoice.total
    assert [ln.item_name for ln in made.lines[1:]] == ["Freight", "Box Tax", "Discount"]


def test_a_negative_charge_is_a_discount_line_on_its_item_and_the_total_is_ours_to_the_cent(company: Company) -> None:
    charges = [("FRT", Decimal("12.50")), ("DSC", Decimal("-3.255"))]
    invoice = company.invoice([("RSAS60", 3, 7, Decimal("0.33"))], charges=charges)

    made = draft(company, invoice)

    assert [(ln.kind, ln.item_name, ln.amount) for ln in made.lines[1:]] == [
        (InvoiceLineKind.CHARGE, "Freight", Decimal("12.50")),
        (InvoiceLineKind.DISCOUNT, "Discount", Decimal("-3.25")),  # 6.93 + 12.50 - 3.255 = 16.175, rounded 16.18
    ]
    assert made.total == invoice.total == Decimal("16.18")


def test_a_foreign_currency_customer_keeps_its_currency_at_the_rate_in_force_on_its_ship_date(company: Company) -> None:
    foreign = draft(company, company.invoice([("RSAS60", 1, 3, Decimal("9.99"))], customer=8))
    home = draft(company, company.invoice([("RSAS60", 1, 3, Decimal("9.99"))], customer=7))

    assert (foreign.currency, foreign.exchange_rate) == ("EUR", Decimal("1.08372913"))
    assert (home.currency, home.exchange_rate) == (None, None)
    assert foreign.total == Decimal("29.97")  # in the customer's currency, as the invoice is


def test_a_foreign_invoice_takes_the_rate_of_its_ship_date_not_of_its_creation_and_none_in_force_is_refused(
    company: Company,
) -> None:
    # Given a EUR invoice created (and priced) at the rate of 2020, shipping on 2026-12-10
    invoice = company.invoice([("RSAS60", 1, 2, Decimal(1))], customer=8)
    customer, products = company.customer(8), company.products()
    rates = [
        {"currency": "EUR", "rate": "1.08372913", "effectiveFrom": "2020-01-01"},
        {"currency": "EUR", "rate": "1.1", "effectiveFrom": "2026-12-01"},  # in force on the ship date
        {"currency": "EUR", "rate": "1.2", "effectiveFrom": "2026-12-11"},  # after it
        {"currency": "CAD", "rate": "0.7", "effectiveFrom": "2026-12-05"},  # another currency
    ]

    def mapped(with_rates: list[dict[str, Any]]) -> Any:
        return build_invoice_draft("c1", invoice, customer, IMPLICIT_STORE, products, SETTINGS, "USD", with_rates)

    # Then its draft carries the rate in force on its date in accounting, and none in force is refused with the fix
    assert mapped(rates).exchange_rate == Decimal("1.1")
    assert invoice.exchange_rate == Decimal("1.08372913")  # what it was priced at stays on the invoice
    with pytest.raises(PermanentError) as refused:
        mapped([r for r in rates if r["effectiveFrom"] > "2026-12-10"])
    assert "no exchange rate for it in force on 2026-12-10" in refused.value.message
    assert "PUT /v1/directory/exchange-rates" in refused.value.message


def test_a_foreign_invoice_goes_to_the_ar_account_of_its_currency_and_a_home_one_to_the_default(
    company: Company,
) -> None:
    foreign = draft(company, company.invoice([("RSAS60", 1, 2, Decimal(1))], customer=8))
    home = draft(company, company.invoice([("RSAS60", 1, 2, Decimal(1))], customer=7))

    assert (foreign.currency, foreign.ar_account) == ("EUR", "Accounts Receivable - EUR")
    assert (home.currency, home.exchange_rate, home.ar_account) == (None, None, None)


def test_a_foreign_invoice_without_an_ar_account_for_its_currency_is_refused_naming_the_setting(
    company: Company,
) -> None:
    invoice = company.invoice([("RSAS60", 1, 2, Decimal(1))], customer=8)

    with pytest.raises(PermanentError) as refused:
        draft(company, invoice, ar_account_by_currency={"CAD": "Accounts Receivable - CAD"})

    assert "in EUR and no A/R account is mapped for EUR" in refused.value.message
    assert "The transaction needs to be in the same currency as the A/R and A/P accounts" in refused.value.message
    assert '{"arAccountByCurrency": {"EUR": "Accounts Receivable - EUR"}}' in refused.value.message


@pytest.mark.parametrize(
    ("prefix", "number", "length", "expected"),
    [
        (None, 42, 11, "42"),
        ("WEB-", 12345, 21, "WEB-12345"),
        ("WEB-", 12345, 11, "WEB-12345"),
        ("AMAZONUS-", 1234567, 11, "AMA~1234567"),
        ("AMAZONUS-", 1234567, 21, "AMAZONUS-1234567"),
        ("ABCDEFGHIJ", 123456789, 11, "A~123456789"),
        ("ABCDEFGHIJ", 1234567890, 11, "1234567890"),
        ("ABCDEFGHIJ", 9_999_999_999, 11, "9999999999"),
        ("ABCDEFGHIJ", 9_999_999_999, 21, "ABCDEFGHIJ9999999999"),
    ],
)
def test_the_document_number_is_prefix_and_number_cut_by_the_documented_rule(
    prefix: str | None, number: int, length: int, expected: str
) -> None:
    assert document_number(prefix, number, length) == expected


def test_many_generated_invoices_map_to_drafts_of_their_total_with_numbers_in_limits_and_stable(
    company: Company,
) -> None:
    chance = random.Random(20261201)  # generated test data, seeded so that a failure repeats
    prefixes = [None, "W", "WEB-", "AMAZONUS-", "ABCDEFGHIJ"]
    seen: dict[int, tuple[str, str]] = {}
    for _ in range(150):
        lines = [
            (
                chance.choice(["RSAS60", "TULIP"]),
                chance.randint(1, 500),
                chance.randint(1, 90),
                Decimal(chance.randint(0, 9_999_999)) / 100,
            )
            for _ in range(chance.randint(1, 6))
        ]
        charges = [
            (chance.choice(sorted(CHARGES)), Decimal(chance.randint(-99_999, 999_999)) / 1000)
            for _ in range(chance.randint(0, 5))
        ]
        invoice = company.invoice(lines, charges, customer=chance.choice([7, 8]))
        prefix = chance.choice(prefixes)
        store = {**IMPLICIT_STORE, "invoicePrefix": prefix}

        made = draft(company, invoice, store)

        assert made.total == invoice.total, (lines, charges)
        assert all(ln.amount == to_cents(ln.quantity * ln.rate) for ln in made.lines)
        assert len(made.doc_number) <= ONLINE_DOC_NUMBER_LENGTH and len(made.ref_number) <= DESKTOP_REF_NUMBER_LENGTH
        assert made.doc_number.endswith(str(invoice.invoice_number))
        assert made.ref_number.endswith(str(invoice.invoice_number))
        assert draft(company, invoice, store) == made  # stable
        seen[invoice.invoice_number] = (made.doc_number, made.ref_number)
    # never two invoices on one number, whatever their prefixes
    assert len({numbers[1] for numbers in seen.values()}) == len(seen)
