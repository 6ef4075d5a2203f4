"""The e-mails Ledgersync sends people: one notifier port, one notice shape, one renderer.

Every e-mail (a document not synchronized, the webhook failing, QuickBooks Online to reconnect) says the same
things in the same order: what happened, why, the facts a person needs to find it, the answer of the other
system when there is one, and what to do. Builders fill a ``Notice`` with words; ``render`` lays it out as
plain text and HTML and escapes every value once, so no builder writes markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Protocol

from ledgersync.domain.purchase_orders import PurchaseOrder

if TYPE_CHECKING:
    from ledgersync.domain.invoices import SalesInvoice


class Notifier(Protocol):
    """Sends one e-mail (SES in the stack). Raises RetryableError when it could not, so the caller keeps it owed."""

    def send(self, to: list[str], subject: str, text: str, html: str) -> None: ...


@dataclass(frozen=True)
class Fact:
    """One labelled fact of a notice: ``Purchase order: P002271 (id 12345)``."""

    name: str
    value: str


@dataclass(frozen=True)
class Excerpt:
    """A block of text quoted as it came (an endpoint's answer), kept verbatim and monospaced in HTML."""

    title: str
    body: str


@dataclass(frozen=True)
class Link:
    """A link a person can follow: ``label: url`` in text, an anchor in HTML."""

    label: str
    url: str


@dataclass(frozen=True)
class Notice:
    """An e-mail in words: the subject line, what happened, why, the facts, the quoted answer and what to do."""

    subject_parts: tuple[str, ...]
    what_happened: str
    what_to_do: str
    reason: str | None = None
    facts: tuple[Fact, ...] = ()
    excerpt: Excerpt | None = None
    what_to_do_label: str = "What to do"
    links: tuple[Link, ...] = ()

    @property
    def subject(self) -> str:
        """The subject line: its parts joined by single spaces (an empty part leaves no gap)."""
        return " ".join(part for part in self.subject_parts if part)


@dataclass(frozen=True)
class RenderedNotice:
    """What a notifier sends: the subject line, the plain text and the HTML body."""

    subject: str
    text: str
    html: str


def render(notice: Notice) -> RenderedNotice:
    """Lay a notice out as text and HTML; every value is escaped here, once."""
    text: list[str] = [notice.what_happened]
    markup: list[str] = [f"<p>{escape(notice.what_happened)}</p>"]
    if notice.reason:
        text.append(f"Reason: {notice.reason}")
        markup.append(f"<p><b>Reason:</b> {escape(notice.reason)}</p>")
    if notice.facts:
        text.append("\n".join(f"{fact.name}: {fact.value}" for fact in notice.facts))
        rows = "".join(
            f"<tr><th align='left'>{escape(fact.name)}</th><td>{escape(fact.value)}</td></tr>" for fact in notice.facts
        )
        markup.append(f"<table>{rows}</table>")
    if notice.excerpt is not None:
        text.append(f"{notice.excerpt.title}:\n{notice.excerpt.body}")
        markup.append(f"<p>{escape(notice.excerpt.title)}:</p><pre>{escape(notice.excerpt.body)}</pre>")
    label = notice.what_to_do_label
    text.append(f"{label}: {notice.what_to_do}" if label else notice.what_to_do)
    markup.append(
        f"<p><b>{escape(label)}:</b> {escape(notice.what_to_do)}</p>"
        if label
        else f"<p>{escape(notice.what_to_do)}</p>"
    )
    if notice.links:
        text.append("\n".join(f"{link.label}: {link.url}" for link in notice.links))
        anchors = "<br>".join(
            f'<a href="{escape(link.url, quote=True)}">{escape(link.label)}</a>' for link in notice.links
        )
        markup.append(f"<p>{anchors}</p>")
    return RenderedNotice(subject=notice.subject, text="\n\n".join(text) + "\n", html="".join(markup))


def send_notice(notifier: Notifier, to: list[str], notice: Notice) -> None:
    """Render ``notice`` and send it to ``to``."""
    mail = render(notice)
    notifier.send(list(to), mail.subject, mail.text, mail.html)


def sync_error_notice(order: PurchaseOrder, target: str, reason: str, invoice_number: str | None = None) -> Notice:
    """A PO (or one of its vendor invoices) was not synchronized with ``target`` (its display name: the target
    registry's): the reason, the PO's facts and how to send again."""
    invoice = f"(vendor invoice {invoice_number})" if invoice_number else ""
    document = f"{order.po_number} {invoice}" if invoice else order.po_number
    return Notice(
        subject_parts=("PO", order.po_number, invoice, "was not synchronized with", target),
        what_happened=f"Purchase order {document} could not be synchronized with {target}.",
        reason=reason,
        facts=(Fact("Ship date", order.ship_date.isoformat()), Fact("PO total", f"{order.total:.2f}")),
        what_to_do=(
            "Correct the problem described above, then open Accounts Payable > PO Reconciliation, select the PO "
            "and choose Actions > Send to External System again (POST /v1/purchase-orders/send-to-external)."
        ),
    )


def invoice_error_notice(invoice: SalesInvoice, target: str, reason: str) -> Notice:
    """A sales invoice was not sent to ``target``: the reason, the invoice's facts and how to send it again (its
    automatic send is cancelled: only send now or send again sends it)."""
    number = str(invoice.invoice_number)
    return Notice(
        subject_parts=("Invoice", number, "was not sent to", target),
        what_happened=f"Invoice {number} for {invoice.customer.name or 'its customer'} could not be sent to {target}.",
        reason=reason,
        facts=(
            Fact("Ship date", invoice.ship_date.isoformat()),
            Fact("Invoice total", f"{invoice.total:.2f} {invoice.currency}"),
        ),
        what_to_do=(
            "Correct the problem described above, then send the invoice again: open Invoices, select it and choose "
            "Send now (POST /v1/invoices/{invoiceId}/send-now) or Send again (POST /v1/invoices/{invoiceId}/"
            "send-again). Its automatic send is cancelled until then."
        ),
    )
