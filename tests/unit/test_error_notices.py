"""An error e-mail is owed until it went: SES failing never loses it, and no PO gets a second one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters, Services
from ledgersync.config import Settings
from ledgersync.domain.accounting_sync import AccountingSync
from ledgersync.domain.held_work import HeldWork
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.outcomes import Outcome, SyncRecorder
from ledgersync.domain.webhook_outcomes import WebhookDeliveryOutcomes
from ledgersync.errors import PermanentError, RetryableError
from tests.support.events import Api
from tests.support.mail import sent_emails
from tests.unit.test_accounting_sync import RecordingBills, sent  # noqa: F401 - the fixture

REFUSED = "QuickBooks refused the bill: the vendor is inactive (610)"
DELIVERY = "7d0c6f0e-1111-4c1e-9a55-000000000001"


@dataclass
class FlakySes:
    """SES throttled for the first ``failures`` sends (the adapter raises RetryableError), then the real one."""

    failures: int

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RetryableError("SES is throttling the notification e-mails")
        bootstrap.services().notifier.send(to, subject, text, html)


def services(ses: FlakySes) -> Services:
    """The use cases as the composition root wires them over moto, e-mail through ``ses`` and QuickBooks refusing."""
    return bootstrap.build(
        Settings.from_environment(),
        Adapters(notifier=ses),
        use_cases={"bill_sync": RecordingBills(fail_with=PermanentError(REFUSED))},
    )


def outcomes(ses: FlakySes) -> SyncRecorder:
    return services(ses).sync_recorder


def consumer(ses: FlakySes) -> AccountingSync:
    return services(ses).accounting_sync


def sweeper(ses: FlakySes) -> HeldWork:
    return services(ses).held_work


def po(api: Api) -> dict[str, Any]:
    return dict(api.get("/v1/purchase-orders/1").json())


def test_ses_failing_once_the_redelivered_message_sends_exactly_one_email(sent: tuple[Api, str]) -> None:  # noqa: F811
    api, company_id = sent
    ses = FlakySes(failures=1)
    # When the refusal is recorded but SES refuses its e-mail, the queue redelivers the message
    with pytest.raises(RetryableError):
        consumer(ses).sync(company_id, 1)
    assert po(api)["vendorInvoiceStatus"] == "Error" and po(api)["errorNoticePending"] is True
    assert consumer(ses).sync(company_id, 1) is Outcome.NOTHING_TO_DO
    # Then the owed e-mail went once, with the refusal, and nothing is owed any more
    (mail,) = sent_emails()
    assert "inactive (610)" in mail.body and "01-P002271" in mail.body and "P002271" in mail.subject
    assert po(api)["errorNoticePending"] is False
    consumer(ses).sync(company_id, 1)
    sweeper(ses).sweep([company_id])
    assert len(sent_emails()) == 1


def test_ses_failing_on_every_retry_the_sweep_sends_the_email_later_once(sent: tuple[Api, str]) -> None:  # noqa: F811
    api, company_id = sent
    ses = FlakySes(failures=4)  # the last receive tries twice: the owed e-mail, then the final outcome's
    sync = consumer(ses)
    for attempt in (1, 2, 3):  # the last receive too: the message goes to the dead-letter queue
        with pytest.raises(RetryableError):
            sync.sync(company_id, 1, attempt=attempt, max_attempts=3)
    assert sent_emails() == [] and po(api)["errorNoticePending"] is True
    # When the sweep runs (SES back), twice
    first = sweeper(ses).sweep([company_id])
    second = sweeper(ses).sweep([company_id])
    # Then the e-mail went once, saying why the PO is in Error
    (mail,) = sent_emails()
    assert "inactive (610)" in mail.body and mail.destinations["ToAddresses"] == ["ap@example.com"]
    assert (first.notices_sent, second.notices_sent) == (1, 0)
    assert po(api)["errorNoticePending"] is False


def test_a_sweep_while_ses_is_down_keeps_the_email_owed(sent: tuple[Api, str]) -> None:  # noqa: F811
    api, company_id = sent
    ses = FlakySes(failures=2)
    with pytest.raises(RetryableError):
        consumer(ses).sync(company_id, 1)
    assert sweeper(ses).sweep([company_id]).notices_sent == 0
    assert po(api)["errorNoticePending"] is True
    assert sweeper(ses).sweep([company_id]).notices_sent == 1
    assert len(sent_emails()) == 1


def test_a_normal_error_sends_one_email_and_never_a_second(sent: tuple[Api, str]) -> None:  # noqa: F811
    api, company_id = sent
    ses = FlakySes(failures=0)
    assert consumer(ses).sync(company_id, 1) is Outcome.ERROR
    assert po(api)["errorNoticePending"] is False
    consumer(ses).sync(company_id, 1)
    consumer(ses).sync(company_id, 1, attempt=3, max_attempts=3)
    sweeper(ses).sweep([company_id])
    assert len(sent_emails()) == 1


def test_send_again_from_error_clears_the_owed_email(sent: tuple[Api, str]) -> None:  # noqa: F811
    api, company_id = sent
    with pytest.raises(RetryableError):
        consumer(FlakySes(failures=1)).sync(company_id, 1)
    answer = api.post("/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [1]})
    assert answer.status == 200 and answer.json()["results"][0]["accepted"], answer.text
    assert po(api)["errorNoticePending"] is False
    sweeper(FlakySes(failures=0)).sweep([company_id])
    assert sent_emails() == []


def test_a_webhook_error_whose_email_failed_is_sent_by_the_sweep_once(sent: tuple[Api, str]) -> None:  # noqa: F811
    api, company_id = sent
    webhook = WebhookDeliveryOutcomes(
        outcomes(FlakySes(failures=0)), bootstrap.services().purchase_order_store, ExternalSystem.WEBHOOK
    )
    # Given a delivery to the webhook whose final refusal was recorded but whose e-mail never went (SES failed on
    # every receive)
    webhook.mark_sent(company_id, 1, DELIVERY)
    assert webhook.mark_failed(company_id, 1, DELIVERY, "the endpoint answered HTTP 422") is True
    assert po(api)["errorNoticePending"] is True
    # When the sweep runs
    assert sweeper(FlakySes(failures=0)).sweep([company_id]).notices_sent == 1
    # Then one e-mail went, and a redriven message for the same delivery owes none
    (mail,) = sent_emails()
    assert "HTTP 422" in mail.body
    assert webhook.mark_failed(company_id, 1, DELIVERY, "the endpoint answered HTTP 422") is False
    assert sweeper(FlakySes(failures=0)).sweep([company_id]).notices_sent == 0
