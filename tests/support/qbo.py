"""QuickBooks Online set-up shared by the tests and the benchmark that run against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devstack.qbo_emulator import EmulatorState

from ledgersync.domain.quickbooks_online import TokenSet


def emulator_tokens(state: EmulatorState, realm_id: str) -> TokenSet:
    """Fresh tokens the emulator issues for a realm (no browser dance): access for an hour, refresh for 100 days."""
    raw = state.issue_tokens(realm_id)
    now = datetime.now(UTC)
    return TokenSet(
        realm_id=realm_id,
        access_token=raw["access_token"],
        refresh_token=raw["refresh_token"],
        access_expires_at=now + timedelta(hours=1),
        refresh_expires_at=now + timedelta(days=100),
        refreshed_at=now,
    )
