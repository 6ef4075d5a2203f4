"""One notice shape and one renderer for every e-mail: the words each builder fills, escaped once."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledgersync.domain.notices import (
    Excerpt,
    Fact,
    Link,
    Notice,
    render,
    send_notice,
    sync_error_notice,
)
from ledgersync.domain.qbo_connection import reconnect_notice
from ledgersync.domain.webhooks.notice import delivery_failed_notice
from ledgersync.domain.webhooks.retries import AttemptResult, Verdict, WebhookResponse
from tests.unit.test_webhook_delivery import T0, endpoint, seed_order

HOSTILE = "<script>alert('x')</script> & \"quoted\""


@dataclass
class RecordingNotifier:
    sent: list[tuple[list[str], str, str, str]] = field(default_factory=list)

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        self.sent.append((to, subject, text, html))


def test_every_value_is_escaped_exactly_once_in_html_and_kept_verbatim_in_text() -> None:
    # Given a notice whose every part carries markup
    notice = Notice(
        subject_parts=("PO", HOSTILE),
        what_happened=HOSTILE,
        reason=HOSTILE,
        facts=(Fact(HOSTILE, HOSTILE),),
        excerpt=Excerpt(HOSTILE, HOSTILE),
        what_to_do_label=HOSTILE,
        what_to_do=HOSTILE,
        links=(Link(HOSTILE, 'https://example.com/a?b=1&c="2"'),),
    )
    # When
    mail = render(notice)
    # Then the HTML holds no raw markup and no double escaping; the text is what the builder wrote
    once = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;"
    assert "<script>" not in mail.html and "&amp;lt;" not in mail.html and "&amp;amp;" not in mail.html
    assert mail.html.count(once) == 9
    assert 'href="https://example.com/a?b=1&amp;c=&quot;2&quot;"' in mail.html
    assert mail.text.count(HOSTILE) == 9
    assert mail.subject == f"PO {HOSTILE}"


def test_text_puts_what_happened_reason_facts_answer_and_fix_in_that_order() -> None:
    notice = Notice(
        subject_parts=("A", "", "B"),
        what_happened="It failed.",
        reason="the vendor is inactive",
        facts=(Fact("Ship date", "2020-03-27"), Fact("PO total", "60.00")),
        excerpt=Excerpt("Response", "nope"),
        what_to_do="Fix it.",
    )
    mail = render(notice)
    assert mail.subject == "A B"
    assert mail.text == (
        "It failed.\n\nReason: the vendor is inactive\n\nShip date: 2020-03-27\nPO total: 60.00\n\n"
        "Response:\nnope\n\nWhat to do: Fix it.\n"
    )


def test_send_notice_renders_once_and_hands_the_notifier_subject_text_and_html() -> None:
    notifier = RecordingNotifier()
    notice = Notice(subject_parts=("Hello",), what_happened="Hi.", what_to_do="Nothing.")
    send_notice(notifier, ["ap@example.com"], notice)
    mail = render(notice)
    assert notifier.sent == [(["ap@example.com"], "Hello", mail.text, mail.html)]


def test_sync_error_email_keeps_its_words_when_a_vendor_invoice_was_refused() -> None:
    order = seed_order(po_number="P<1>")
    mail = render(sync_error_notice(order, "QuickBooks Online", "inactive (610)", "01-P002271"))
    subject, text, html = mail.subject, mail.text, mail.html
    assert subject == "PO P<1> (vendor invoice 01-P002271) was not synchronized with QuickBooks Online"
    assert text.startswith(
        "Purchase order P<1> (vendor invoice 01-P002271) could not be synchronized with QuickBooks Online.\n\n"
        "Reason: inactive (610)\n\n"
    )
    assert "Ship date: 2020-03-27\nPO total: 60.00" in text
    assert "choose Actions > Send to External System again (POST /v1/purchase-orders/send-to-external)." in text
    assert "P&lt;1&gt;" in html and "P<1>" not in html


def test_sync_error_email_names_the_external_system_generically_when_none_is_set() -> None:
    from ledgersync.domain.sync.targets import TargetRegistry

    target = TargetRegistry({}).display_name(None)
    mail = render(sync_error_notice(seed_order(), target, "boom", None))
    subject, text = mail.subject, mail.text
    assert subject == "PO P002271 was not synchronized with the external system"
    assert text.startswith("Purchase order P002271 could not be synchronized with the external system.")


def test_reconnect_notice_keeps_seed_003s_words_and_the_way_back() -> None:
    mail = render(reconnect_notice("the refresh token was revoked"))
    assert mail.subject == "QuickBooks Online must be reconnected; your bills are waiting"
    assert mail.text.startswith(
        "QuickBooks export API call encountered UNAUTHORIZED status code and could not be completed. Please reset "
        "your QuickBooks authorization token and try again.\n\nReason: the refresh token was revoked\n\n"
        "How to reconnect: Sign in as an Admin"
    )


def test_webhook_notice_lists_facts_then_the_answer_then_the_advice() -> None:
    result = AttemptResult(Verdict.FINAL, "HTTP 500", 500, response=WebhookResponse(500, {}, b"<b>down</b>"))
    mail = render(delivery_failed_notice(seed_order(), endpoint(), result, attempts=2, first_attempt_at=T0))
    assert mail.subject == "PO P002271 could not be sent to your PO Reconciliation webhook"
    assert mail.text.startswith(
        "PO P002271 could not be sent to your PO Reconciliation webhook.\n\n"
        "Purchase order: P002271 (id 12345)\nEndpoint: https://erp.example.com/hooks/po\nStatus: HTTP 500\n"
        "Error: HTTP 500\nAttempts: 2 since 2024-05-01T12:00:00+00:00\n\n"
        "Response (first 1 KB, secrets redacted):\n<b>down</b>\n\nThe purchase order is now in status Error."
    )
    assert "<pre>&lt;b&gt;down&lt;/b&gt;</pre>" in mail.html
