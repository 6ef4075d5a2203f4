"""What a sales invoice (an order) becomes in any accounting system, before an adapter shapes it (issue 10).

``build_invoice_draft`` is pure: it reads the invoice as ``GET /v1/invoices/{id}`` answers it, the customer and
products it names, its store and the accounting settings, and gives an ``InvoiceDraft`` in neutral terms (as
``BillDraft`` is for bills): who is billed, one line per item and per additional charge, the document numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from ledgersync.currencies import rate_in_force
from ledgersync.domain.directory import CustomerMode
from ledgersync.domain.invoices import SalesInvoice, SalesInvoiceLine
from ledgersync.domain.settings import AccountingSettings
from ledgersync.errors import PermanentError
from ledgersync.money import to_cents

# QuickBooks Online Invoice.DocNumber and QuickBooks Desktop InvoiceAdd RefNumber, in characters.
ONLINE_DOC_NUMBER_LENGTH = 21
DESKTOP_REF_NUMBER_LENGTH = 11
CUT_MARK = "~"


class InvoiceLineKind(StrEnum):
    ITEM = "item"  # an item of the order, on its product's accounting item or the settings' invoiceItemName
    CHARGE = "charge"  # an additional charge, on the item invoiceChargeItems maps its code to
    # a negative additional charge (an order discount): its amount is negative; QuickBooks Online writes it as a
    # DiscountLineDetail line, Desktop as a line on its (discount) item, so the accounting total equals ours
    DISCOUNT = "discount"


class InvoiceLine(BaseModel):
    """One line of a sales invoice: an accounting item, a quantity and a rate; ``amount`` is quantity times rate."""

    kind: InvoiceLineKind
    item_name: str
    quantity: Decimal
    rate: Decimal
    amount: Decimal
    description: str | None = None


class InvoiceDraft(BaseModel):
    """A sales invoice in any accounting system. Money is in the invoice's (the customer's) currency; ``currency``
    and ``exchange_rate`` (company units per unit of it, the rate used at creation) are set for a foreign one only."""

    company_id: str
    invoice_id: int
    invoice_number: int
    document_version: int  # the invoice's version this draft was built from
    # the send of that version (a send again after the accounting invoice was deleted sends the same version anew):
    # one accounting invoice per (document_version, generation)
    generation: int = 0
    store_code: str
    customer_name: str
    txn_date: date
    doc_number: str  # QuickBooks Online DocNumber (at most 21)
    ref_number: str  # QuickBooks Desktop RefNumber (at most 11)
    currency: str | None
    exchange_rate: Decimal | None
    # the A/R account of a foreign invoice's currency (settings' arAccountByCurrency); None: the company's default
    ar_account: str | None = None
    # the company's own currency, so an adapter can tell a home-currency invoice from a customer in another currency
    company_currency: str | None = None
    lines: list[InvoiceLine]
    total: Decimal
    po_number: str | None
    memo: str
    # the order's sales order in the target (QuickBooks Online Estimate Id, Desktop SalesOrder TxnID): the invoice
    # links to it (LinkedTxn, LinkToTxnID), which closes it; None when the order has none there
    sales_order_id: str | None = None


def invoice_memo(invoice_id: int, invoice_number: int, version: int) -> str:
    """The memo (QuickBooks Online PrivateNote, Desktop Memo) that names the order and the version sent: how a
    look-up tells the accounting invoice Ledgersync created for this version from any other with the number."""
    return f"Ledgersync invoice {invoice_number} (id {invoice_id}, version {version})"


def document_number(prefix: str | None, invoice_number: int, max_length: int) -> str:
    """The accounting document number of an invoice: its store's ``invoicePrefix`` then its invoice number.

    When that is longer than the target allows (QuickBooks Online DocNumber 21, Desktop RefNumber 11), the invoice
    number is kept whole and the prefix is cut to make room for it and a ``~`` that shows the cut:
    ``prefix[: max_length - len(number) - 1] + "~" + number``; with no room for even one prefix character, the
    number alone. Deterministic (the same prefix and number always give the same text), and never two invoices of
    a company on one number: invoice numbers are unique in a company and always end the text whole, so no digest
    is needed (unlike ``document_reference``, whose cut can drop what tells two bills apart)."""
    number = str(invoice_number)
    if len(number) > max_length:
        raise PermanentError(f"invoice number {number} is longer than the {max_length} characters the target allows")
    full = f"{prefix or ''}{number}"
    if len(full) <= max_length:
        return full
    room = max_length - len(number) - len(CUT_MARK)
    if room < 1:
        return number
    return f"{(prefix or '')[:room]}{CUT_MARK}{number}"


def build_invoice_draft(
    company_id: str,
    invoice: SalesInvoice,
    customer: Mapping[str, Any] | None,
    store: Mapping[str, Any],
    products: Mapping[str, Mapping[str, Any]],
    settings: AccountingSettings,
    company_currency: str,
    exchange_rates: Sequence[Mapping[str, Any]] = (),
) -> InvoiceDraft:
    """Map an invoice to its draft; the draft's lines add up to the invoice's total to the cent.

    ``customer`` is the directory record of the invoice's customer (None: only the name the invoice kept),
    ``store`` the directory record of its store (or ``IMPLICIT_STORE``), ``products`` the directory's products by
    upper-case code. Raises ``PermanentError`` naming the fix when something the accounting system needs is not set
    up (an additional charge without an item, a channel store without its accounting customer)."""
    lines = [_item_line(line, products, settings) for line in invoice.items]
    lines += _charge_lines(invoice, settings, sum((line.amount for line in lines), Decimal(0)))
    total = sum((line.amount for line in lines), Decimal(0))
    if total != to_cents(invoice.total):
        raise PermanentError(
            f"invoice {invoice.invoice_number}'s lines add up to {total}, not its total {invoice.total}; "
            "the stored invoice is inconsistent: correct it with PUT /v1/invoices/{id}"
        )
    prefix = store.get("invoicePrefix")
    foreign = invoice.currency != company_currency
    ar_account = _ar_account(invoice, settings) if foreign else None
    exchange_rate = _rate_on_ship_date(invoice, exchange_rates) if foreign else None
    return InvoiceDraft(
        company_id=company_id,
        invoice_id=invoice.invoice_id,
        invoice_number=invoice.invoice_number,
        document_version=invoice.version,
        store_code=str(store.get("code", "")),
        customer_name=_customer_name(invoice, customer, store),
        txn_date=invoice.ship_date,
        doc_number=document_number(prefix, invoice.invoice_number, ONLINE_DOC_NUMBER_LENGTH),
        ref_number=document_number(prefix, invoice.invoice_number, DESKTOP_REF_NUMBER_LENGTH),
        currency=invoice.currency if foreign else None,
        exchange_rate=exchange_rate,
        ar_account=ar_account,
        company_currency=company_currency,
        lines=lines,
        total=total,
        po_number=invoice.po_number,
        memo=invoice_memo(invoice.invoice_id, invoice.invoice_number, invoice.version),
    )


def _rate_on_ship_date(invoice: SalesInvoice, exchange_rates: Sequence[Mapping[str, Any]]) -> Decimal:
    """The directory's rate of the invoice's currency in force on its date in accounting (the ship date), as a
    foreign bill takes the rate of its date; the invoice's amounts stay in the customer's currency as priced."""
    rate = rate_in_force(exchange_rates, invoice.currency, invoice.ship_date)
    if rate is None:
        raise PermanentError(
            f"the customer's currency is {invoice.currency} and there is no exchange rate for it in force on "
            f"{invoice.ship_date.isoformat()} (the invoice's date in accounting); add one with "
            f'PUT /v1/directory/exchange-rates, e.g. [{{"currency": "{invoice.currency}", "rate": '
            f'"{invoice.exchange_rate}", "effectiveFrom": "{invoice.ship_date.isoformat()}"}}], then send again'
        )
    return rate


def _ar_account(invoice: SalesInvoice, settings: AccountingSettings) -> str:
    """The A/R account of a foreign invoice's currency: QuickBooks keeps each A/R account in one currency and refuses
    a transaction in another, so an unmapped currency is refused here, before anything is sent."""
    account = settings.ar_account_by_currency.get(invoice.currency)
    if account:
        return account
    raise PermanentError(
        f"invoice {invoice.invoice_number} is in {invoice.currency} and no A/R account is mapped for "
        f'{invoice.currency} (QuickBooks: "The transaction needs to be in the same currency as the A/R and A/P '
        f'accounts"); create an A/R account in {invoice.currency} in QuickBooks and map it with '
        f'PUT /v1/accounting/settings arAccountByCurrency, e.g. {{"arAccountByCurrency": '
        f'{{"{invoice.currency}": "Accounts Receivable - {invoice.currency}"}}}}'
    )


def _customer_name(invoice: SalesInvoice, customer: Mapping[str, Any] | None, store: Mapping[str, Any]) -> str:
    if store.get("customerMode") == CustomerMode.CHANNEL:
        name = store.get("accountingCustomer")
        if not name:
            raise PermanentError(
                f"store '{store.get('code')}' bills its invoices to one accounting customer but names none; set its "
                "accountingCustomer with PUT /v1/directory/stores"
            )
        return str(name)
    if customer is not None:
        return str(customer.get("accountingName") or customer.get("name"))
    if invoice.customer.name:
        return invoice.customer.name
    raise PermanentError(
        f"invoice {invoice.invoice_number}'s customer has no name; give it one with PUT /v1/directory/customers"
    )


def _item_line(
    line: SalesInvoiceLine, products: Mapping[str, Mapping[str, Any]], settings: AccountingSettings
) -> InvoiceLine:
    product = products.get(str(line.product_code).upper()) or {}
    quantity = Decimal(line.boxes) * Decimal(line.units_per_box)
    return InvoiceLine(
        kind=InvoiceLineKind.ITEM,
        item_name=str(product.get("accountingItem") or settings.invoice_item_name),
        quantity=quantity,
        rate=line.price,
        amount=to_cents(line.amount),
        description=" ".join(
            p for p in (line.product_alias or str(product.get("name") or line.product_code), line.box_type_code) if p
        ),
    )


def _charge_lines(invoice: SalesInvoice, settings: AccountingSettings, items_total: Decimal) -> list[InvoiceLine]:
    """One line per charge, quantity 1; a charge whose line comes out negative is a discount line. Charges are kept
    to three decimals and the invoice total is the items plus the charges rounded once (half up), so each charge
    line is the rounded running total less the previous rounded running total: with the items, the lines add up to
    the invoice's total exactly."""
    unmapped = [
        c.code.upper() for c in invoice.additional_charges if c.code.upper() not in settings.invoice_charge_items
    ]
    if unmapped:
        example = ", ".join(f'"{code}": "<item name>"' for code in dict.fromkeys(unmapped))
        raise PermanentError(
            f"additional charge {', '.join(repr(c) for c in dict.fromkeys(unmapped))} has no accounting item to go "
            f"on; map it with PUT /v1/accounting/settings invoiceChargeItems, e.g. "
            f'{{"invoiceChargeItems": {{{example}}}}}'
        )
    lines: list[InvoiceLine] = []
    running, rounded = items_total, items_total
    for charge in invoice.additional_charges:
        running += charge.value
        amount = to_cents(running) - rounded
        rounded += amount
        code = charge.code.upper()
        lines.append(
            InvoiceLine(
                kind=InvoiceLineKind.DISCOUNT if amount < 0 else InvoiceLineKind.CHARGE,
                item_name=settings.invoice_charge_items[code],
                quantity=Decimal(1),
                rate=amount,
                amount=amount,
                description=charge.name or code,
            )
        )
    return lines
