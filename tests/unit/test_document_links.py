"""The PDF link token on its own: HMAC over company, document and expiry, checked in constant time, six hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgersync.adapters.documents import DocumentLinkSigner, derive_link_key
from ledgersync.errors import Forbidden, Gone
from tests.fakes import FakeClock

KEY = "acme-co/purchase-orders/7/01-P7.pdf"


def signer(secret: str = "admin-key", now: float = 1_800_000_000.0) -> DocumentLinkSigner:
    return DocumentLinkSigner(lambda: derive_link_key(secret), clock=FakeClock(datetime.fromtimestamp(now, UTC)))


def test_link_grants_its_document_for_six_hours_when_signed() -> None:
    token = signer().token(KEY)
    grant = signer(now=1_800_000_000.0 + 6 * 3600 - 1).verify(token)
    assert (grant.company_id, grant.key, grant.expires_at) == ("acme-co", KEY, 1_800_000_000 + 6 * 3600)


def test_link_is_gone_when_six_hours_have_passed() -> None:
    token = signer().token(KEY)
    with pytest.raises(Gone) as refused:
        signer(now=1_800_000_000.0 + 6 * 3600).verify(token)
    assert refused.value.field_errors[0].field == "token"


def test_link_is_forbidden_when_signed_with_another_key() -> None:
    token = signer("an-old-admin-key").token(KEY)
    with pytest.raises(Forbidden):
        signer("admin-key").verify(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!.??", "e30.AAAA", "bm90IGpzb24.AAAA"])
def test_link_is_forbidden_when_malformed(token: str) -> None:
    with pytest.raises(Forbidden):
        signer().verify(token)


def test_link_key_is_derived_and_never_the_secret_itself() -> None:
    key = derive_link_key("admin-key")
    assert len(key) == 32 and b"admin-key" not in key
    assert derive_link_key("another") != key
