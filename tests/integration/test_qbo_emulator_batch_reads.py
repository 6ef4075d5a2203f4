"""The emulator counts a batch of queries as a read: a failure injected for writes waits for the next write."""

from __future__ import annotations

import requests

from tests.integration.test_qbo_emulator import REALM, Company, start


def fail_next_write(url: str) -> None:
    """QuickBooks will commit the next write and answer 500 (the outcome unknown to the caller)."""
    requests.post(
        f"{url}/__emulator/failures",
        json={"realmId": REALM, "status": 500, "afterCommit": True, "operation": "write"},
        timeout=10,
    ).raise_for_status()


def test_a_write_failure_skips_a_batch_of_queries_when_injected_for_writes() -> None:
    with start() as running:
        company = Company(running)
        # Given QuickBooks that will commit the next write and answer 500 (the outcome unknown to the caller)
        fail_next_write(running.url)
        # When a batch of lookups runs first (how the gateway resolves a bill's vendor and item)
        lookups = company.post(
            "batch",
            {
                "BatchItemRequest": [
                    {"bId": "1", "Query": "SELECT * FROM Vendor WHERE DisplayName = 'Flora'"},
                    {"bId": "2", "Query": "SELECT * FROM Item WHERE Name = 'Roses'"},
                ]
            },
        )
        # Then the lookups answer and the failure is still there for the write that follows
        assert lookups.status_code == 200, lookups.text
        assert [rule.count for rule in running.state.failures] == [1]
        created = company.post("vendor", {"DisplayName": "Flora"})
        assert created.status_code == 500
        assert [v["DisplayName"] for v in running.state.records(REALM, "Vendor")] == ["Flora"]
        # And a batch that creates is a write
        fail_next_write(running.url)
        mixed = company.post(
            "batch",
            {
                "BatchItemRequest": [
                    {"bId": "1", "Query": "SELECT * FROM Vendor"},
                    {"bId": "2", "operation": "create", "Vendor": {"DisplayName": "Rosas"}},
                ]
            },
        )
        assert mixed.status_code == 500
        assert sorted(v["DisplayName"] for v in running.state.records(REALM, "Vendor")) == ["Flora", "Rosas"]
