"""Signature, retry schedule, outcome classification and refused addresses of the webhook."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from ledgersync.adapters.webhooks import DnsAddressGuard
from ledgersync.domain.webhooks.endpoint import AddressRefusedError, address_refusal
from ledgersync.domain.webhooks.payload import sign, signature_header, verify_signature
from ledgersync.domain.webhooks.retries import (
    RetrySchedule,
    Verdict,
    WebhookResponse,
    classify_response,
    parse_retry_after,
)
from ledgersync.errors import RetryableError

SECRET = "whsec_0123456789abcdefghijklmnopqrstuvwxyz"
BODY = b'{"id":12345,"total":60.00}'
NOW = 1_714_564_800
HOUR = 3600.0


# --- signature ------------------------------------------------------------------------------------------------------


def test_signature_verifies_when_body_secret_and_time_match() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert header == f"t={NOW},v1={sign(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, header, BODY, tolerance_s=300, now=NOW + 299)


def test_signature_is_refused_when_the_body_was_changed() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, header, BODY.replace(b"60.00", b"6000.00"), now=NOW)


def test_signature_is_refused_when_the_secret_differs() -> None:
    assert not verify_signature("another-secret", signature_header(SECRET, NOW, BODY), BODY, now=NOW)


def test_signature_is_refused_when_it_is_older_than_the_tolerance() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, header, BODY, tolerance_s=300, now=NOW + 301)
    assert not verify_signature(SECRET, header, BODY, tolerance_s=300, now=NOW - 301)


def test_signature_is_refused_when_the_timestamp_was_swapped() -> None:
    original = signature_header(SECRET, NOW, BODY)
    replayed = original.replace(f"t={NOW}", f"t={NOW + 1000}")
    assert not verify_signature(SECRET, replayed, BODY, now=NOW + 1000)


@pytest.mark.parametrize("header", ["", "v1=abc", f"t={NOW}", "t=soon,v1=abc", "garbage"])
def test_signature_is_refused_when_the_header_is_malformed(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_signature_verifies_when_one_of_several_v1_values_matches() -> None:
    header = f"t={NOW},v1={'0' * 64},v1={sign(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, header, BODY, now=NOW)


# --- retry schedule -------------------------------------------------------------------------------------------------


def run_schedule(schedule: RetrySchedule, pick: str, retry_after: float | None = None) -> list[float]:
    """Times of every attempt when each one fails, the jitter always picking the low or high end."""

    def uniform(low: float, high: float) -> float:
        return low if pick == "low" else high - 0.001

    times = [0.0]
    while True:
        delay = schedule.next_delay(times[-1], retry_after, uniform)
        if delay is None:
            return times
        times.append(times[-1] + delay)


@pytest.mark.parametrize("pick", ["low", "high"])
def test_retries_span_at_least_24_hours_when_every_attempt_fails(pick: str) -> None:
    schedule = RetrySchedule(total_seconds=24 * HOUR)
    times = run_schedule(schedule, pick)
    assert times[-1] >= 24 * HOUR
    assert times[-2] < 24 * HOUR
    assert len(times) <= schedule.max_attempts()


def test_retries_back_off_exponentially_up_to_the_cap_when_attempts_keep_failing() -> None:
    times = run_schedule(RetrySchedule(), "low")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:8] == [30, 60, 120, 240, 480, 960, 1920, 3840]
    assert max(gaps) <= 2 * 2 * HOUR


def test_next_attempt_is_spread_over_the_whole_window_when_jitter_is_full() -> None:
    schedule = RetrySchedule()
    earliest = schedule.next_delay(100.0, uniform=lambda low, high: low)
    latest = schedule.next_delay(100.0, uniform=lambda low, high: high)
    # the failure at 100 s is in window [90, 210); the next attempt lands anywhere in [210, 450)
    assert (earliest, latest) == (110, 350)


def test_attempt_count_is_bounded_when_retries_cover_24_hours() -> None:
    assert RetrySchedule().max_attempts() == 20  # template.yaml's maxReceiveCount 30 leaves room for crashes


def test_retries_stop_when_24_hours_have_passed() -> None:
    assert RetrySchedule().next_delay(24 * HOUR) is None
    assert RetrySchedule(total_seconds=2 * HOUR).next_delay(2 * HOUR + 1) is None


def test_retry_after_is_honoured_when_it_is_longer_than_the_backoff() -> None:
    assert RetrySchedule().next_delay(0.0, retry_after=900, uniform=lambda low, high: low) == 900
    assert RetrySchedule().next_delay(0.0, retry_after=5, uniform=lambda low, high: low) == 30


def test_delay_fits_the_sqs_visibility_limit_when_retry_after_is_huge() -> None:
    assert RetrySchedule().next_delay(0.0, retry_after=7 * 24 * HOUR) == 12 * 3600 - 300


def test_schedule_starts_from_zero_when_clocks_disagree() -> None:
    assert RetrySchedule().next_delay(-50.0, uniform=lambda low, high: low) == 30


# --- outcome classification -----------------------------------------------------------------------------------------

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.DELIVERED), (201, Verdict.DELIVERED), (204, Verdict.DELIVERED),
    (408, Verdict.RETRY), (429, Verdict.RETRY), (500, Verdict.RETRY), (503, Verdict.RETRY), (599, Verdict.RETRY),
    (301, Verdict.FINAL), (302, Verdict.FINAL), (307, Verdict.FINAL), (308, Verdict.FINAL),
    (400, Verdict.FINAL), (401, Verdict.FINAL), (403, Verdict.FINAL), (404, Verdict.FINAL), (422, Verdict.FINAL),
    (100, Verdict.FINAL),
])  # fmt: skip
def test_status_is_classified_when_the_endpoint_answers(status: int, verdict: Verdict) -> None:
    assert classify_response(WebhookResponse(status), AT).verdict is verdict


def test_retry_after_is_read_when_given_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120", AT) == 120
    later = (AT + timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, AT) == 300
    assert parse_retry_after("soon", AT) is None
    assert parse_retry_after(None, AT) is None
    result = classify_response(WebhookResponse(429, {"retry-after": "45"}), AT)
    assert result.retry_after == 45


# --- refused addresses ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "why"), [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.10", "private"),
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("0.0.0.0", "unspecified"),
    ("169.254.169.254", "metadata"), ("169.254.170.2", "metadata"), ("169.254.10.10", "link-local"),
    ("100.100.100.200", "metadata"), ("100.64.0.1", "non-public"), ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"), ("::1", "loopback"), ("fd00:ec2::254", "metadata"), ("fe80::1", "link-local"),
    ("fc00::1", "private"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "metadata"),
    ("2002:a00:1::", "private"), ("ff02::1", "multicast"), ("::", "unspecified"),
])  # fmt: skip
def test_address_is_refused_when_it_is_not_public(address: str, why: str) -> None:
    reason = address_refusal(address)
    assert reason is not None
    assert why in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_address_is_accepted_when_it_is_public(address: str) -> None:
    assert address_refusal(address) is None


def fixed(*answers: list[str]) -> DnsAddressGuard:
    """A guard whose DNS answers each lookup with the next list (the last one repeats)."""
    queue = list(answers)

    def resolve(host: str, port: int) -> list[str]:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return DnsAddressGuard(frozenset({"127.0.0.1", "localhost"}), resolve)


def test_host_is_refused_when_any_of_its_addresses_is_private() -> None:
    guard = fixed(["93.184.216.34", "10.0.0.7"])
    with pytest.raises(AddressRefusedError, match=r"10\.0\.0\.7 is a private address"):
        guard.check("https://hooks.example.com/po")


def test_host_is_refused_when_dns_points_at_the_metadata_service() -> None:
    with pytest.raises(AddressRefusedError, match="metadata"):
        fixed(["169.254.169.254"]).check("https://metadata.attacker.example/latest")
    with pytest.raises(AddressRefusedError, match="metadata"):
        fixed(["fd00:ec2::254"]).check("https://[fd00:ec2::254]/latest")


def test_host_is_refused_at_send_time_when_dns_answers_change_after_set_up() -> None:
    # Given DNS that answers a public address first, then rebinds to loopback
    guard = fixed(["93.184.216.34"], ["127.0.0.1"])
    guard.check("https://rebind.example.com/po")  # set-up passes
    # When the webhook is sent
    with pytest.raises(AddressRefusedError, match="loopback"):
        guard.resolve("https://rebind.example.com/po")


def test_checked_address_is_the_one_to_connect_to_when_the_host_resolves() -> None:
    guard = fixed(["93.184.216.34", "93.184.216.35"])
    assert guard.resolve("https://hooks.example.com:8443/po") == ("hooks.example.com", "93.184.216.34", 8443)
    assert guard.resolve("https://hooks.example.com/po")[2] == 443


def test_loopback_is_allowed_when_the_host_is_in_the_allowed_list() -> None:
    guard = fixed(["127.0.0.1"])
    assert guard.resolve("http://localhost:8099/hook") == ("localhost", "127.0.0.1", 8099)
    assert guard.resolve("http://127.0.0.1:8099/hook")[1] == "127.0.0.1"


def test_lookup_failure_is_retryable_when_dns_does_not_answer() -> None:
    import socket

    def broken(host: str, port: int) -> list[str]:
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    with pytest.raises(RetryableError, match="could not be resolved"):
        DnsAddressGuard(frozenset(), broken).check("https://hooks.example.com/po")


def test_numeric_hosts_are_refused_when_the_system_resolver_maps_them_to_loopback() -> None:
    """Decimal and hex spellings of 127.0.0.1 resolve locally, without DNS, and are caught after resolution."""
    guard = DnsAddressGuard(frozenset())
    for url in ("https://2130706433/x", "https://0x7f000001/x", "https://127.1/x", "https://[::1]/x"):
        with pytest.raises(AddressRefusedError, match="loopback"):
            guard.check(url)
