"""Move the sync state off purchase-order records: one sync-state item per PO, then the PO without its sync fields.

    python -m ledgersync.migrations.sync_state_off_po --table NAME     (or: make migrate TABLE=NAME)

Safe to run twice and while traffic flows. Each PO is read, its sync state written only if none exists yet
(``attribute_not_exists``: a state the running code already wrote wins), then the PO rewritten without the moved
fields only if its version is still the one read (a PO changed meanwhile is read again). Until a PO is migrated
the code reads it as if it were, through the same mapping (``domain.purchase_order_sync``). A company with no
external system chosen is left as it is and counted: choose one and run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ledgersync.adapters.account_store import DynamoAccountStore
from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.purchase_order_store import DynamoPurchaseOrderStore, order_of, po_sk, stored_order
from ledgersync.adapters.settings_store import DynamoSettingsStore
from ledgersync.adapters.sync_state_store import DynamoSyncStateStore
from ledgersync.domain.purchase_order_sync import is_legacy, legacy_state
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.errors import Conflict

ATTEMPTS = 5


@dataclass
class MigrationSummary:
    companies: int = 0
    orders_seen: int = 0
    orders_migrated: int = 0
    states_written: int = 0
    states_already_there: int = 0
    skipped_no_external_system: int = 0
    skipped_kept_changing: int = 0


def migrate(table: SingleTable, company_ids: Iterable[str] | None = None) -> MigrationSummary:
    summary = MigrationSummary()
    settings = DynamoSettingsStore(table)
    companies = list(company_ids) if company_ids is not None else DynamoAccountStore(table).company_ids()
    for company_id in companies:
        summary.companies += 1
        system = settings.get_settings(company_id).external_system
        for item in table.query_prefix(company_pk(company_id), "PO#"):
            summary.orders_seen += 1
            _migrate_order(table, company_id, int(item["order"]["id"]), system, summary)
    return summary


def _migrate_order(
    table: SingleTable, company_id: str, po_id: int, system: ExternalSystem | None, summary: MigrationSummary
) -> None:
    orders, states = DynamoPurchaseOrderStore(table), DynamoSyncStateStore(table)
    for _ in range(ATTEMPTS):
        item = table.get(company_pk(company_id), po_sk(po_id))
        if item is None:
            return
        stored = stored_order(item)
        if not is_legacy(stored):
            return
        if system is None:
            summary.skipped_no_external_system += 1
            return
        state = legacy_state(company_id, stored, system)
        if state is not None:
            try:
                states.put(state, None)
                summary.states_written += 1
            except Conflict:
                summary.states_already_there += 1
        try:
            orders.save(order_of(item), stored["version"])
        except Conflict:
            continue  # changed meanwhile: read it again (the running code may have migrated it already)
        summary.orders_migrated += 1
        return
    summary.skipped_kept_changing += 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--table", required=True, help="the single table's name (the stack's LedgersyncTable)")
    parser.add_argument("--company", action="append", help="only this company (repeatable); default: every company")
    args = parser.parse_args(argv)
    summary = migrate(SingleTable(args.table), args.company)
    json.dump(asdict(summary), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
