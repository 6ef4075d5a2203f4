"""Invoices in the single table: one consistent batch read, one transaction per create."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledgersync.adapters.directory_store import DEFAULT_STORE_SK, code_sk, product_key_sk, record_sk
from ledgersync.adapters.dynamodb import SingleTable, TransactionConflict, company_pk, storable, strip_keys
from ledgersync.adapters.sync_state_store import DynamoSyncStateStore
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import (
    UNKNOWN_CUSTOMER_CODE,
    ChangePlan,
    CommitPlan,
    InventoryTaken,
    InvoiceStatus,
    Lookup,
    Snapshot,
)
from ledgersync.domain.sync.store import StateWrite
from ledgersync.errors import Conflict

COUNTER_SK = "COUNTER#invoice"
RATES_SK = "EXRATES"
IDEMPOTENCY_TTL = timedelta(hours=24)


def invoice_sk(invoice_id: int) -> str:
    return f"INVOICE#{invoice_id:012d}"


def idempotency_sk(key: str) -> str:
    return f"IDEMP#invoice.create#{key}"


class DynamoInvoiceStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def read(self, company_id: str, lookup: Lookup) -> Snapshot:
        pk = company_pk(company_id)
        keys: dict[str, str] = {"company": "PROFILE", "counter": COUNTER_SK, "rates": RATES_SK}
        if lookup.customer_id is not None:
            keys["customer"] = record_sk(Kind.CUSTOMERS, lookup.customer_id)
        elif lookup.customer_code:
            keys["customer"] = code_sk(Kind.CUSTOMERS, lookup.customer_code)
        if lookup.want_unknown_customer:
            keys["unknown"] = code_sk(Kind.CUSTOMERS, UNKNOWN_CUSTOMER_CODE)
        if lookup.carrier_id is not None:
            keys["carrier"] = record_sk(Kind.CARRIERS, lookup.carrier_id)
        elif lookup.carrier_code:
            keys["carrier"] = code_sk(Kind.CARRIERS, lookup.carrier_code)
        if lookup.location_id is not None:
            keys["location"] = record_sk(Kind.LOCATIONS, lookup.location_id)
        elif lookup.location_code:
            keys["location"] = code_sk(Kind.LOCATIONS, lookup.location_code)
        if lookup.store_id is not None:
            keys["store"] = record_sk(Kind.STORES, lookup.store_id)
        elif lookup.store_code:
            keys["store"] = code_sk(Kind.STORES, lookup.store_code)
        else:
            keys["store"] = DEFAULT_STORE_SK
        if lookup.idempotency_key:
            keys["replay"] = idempotency_sk(lookup.idempotency_key)
        inventory_sks = [record_sk(Kind.INVENTORY, oid) for oid in lookup.order_item_ids]
        presentation_sks = [product_key_sk(p) for p in lookup.presentations]
        charge_sks = [record_sk(Kind.CHARGES, c) for c in lookup.charge_codes]
        found = self.table.batch_get(
            [(pk, sk) for sk in [*keys.values(), *inventory_sks, *presentation_sks, *charge_sks]]
        )

        def one(name: str) -> dict[str, Any] | None:
            item = found.get((pk, keys[name])) if name in keys else None
            return strip_keys(item) if item else None

        company = one("company")
        if company is None:
            raise Conflict("this company no longer exists")
        inventory = {
            int(found[(pk, sk)]["orderItemId"]): strip_keys(found[(pk, sk)])
            for sk in inventory_sks
            if (pk, sk) in found
        }
        presentations = {
            p: [int(i) for i in found[(pk, product_key_sk(p))].get("orderItemIds", [])]
            for p in lookup.presentations
            if (pk, product_key_sk(p)) in found
        }
        charges = {str(found[(pk, sk)]["code"]): strip_keys(found[(pk, sk)]) for sk in charge_sks if (pk, sk) in found}
        return Snapshot(
            company=company,
            counter=one("counter") or {},
            rates=list((one("rates") or {}).get("rates", [])),
            customer=one("customer"),
            unknown_customer=one("unknown"),
            carrier=one("carrier"),
            location=one("location"),
            store=one("store"),
            inventory=inventory,
            presentations=presentations,
            charges=charges,
            replay=one("replay"),
        )

    def read_inventory(self, company_id: str, order_item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        pk = company_pk(company_id)
        found = self.table.batch_get([(pk, record_sk(Kind.INVENTORY, oid)) for oid in order_item_ids])
        return {int(item["orderItemId"]): strip_keys(item) for item in found.values()}

    def commit(self, plan: CommitPlan) -> None:
        pk = company_pk(plan.company_id)
        expected = plan.expected_counter["invoiceNumber"]
        # Both numbers are conditions: a change of an invoice (commit_change) numbers lines without a new invoice.
        counter_condition = (
            "attribute_not_exists(invoiceNumber)"
            if expected == 0
            else "invoiceNumber = :expected AND invoiceItemId = :expectedItem"
        )
        counter_values: dict[str, Any] = {f":{k}": v for k, v in plan.next_counter.items()}
        if expected:
            counter_values[":expected"] = expected
            counter_values[":expectedItem"] = plan.expected_counter["invoiceItemId"]
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": {"pk": pk, "sk": COUNTER_SK},
                    "UpdateExpression": "SET invoiceNumber = :invoiceNumber, invoiceId = :invoiceId, "
                    "invoiceItemId = :invoiceItemId",
                    "ConditionExpression": counter_condition,
                    "ExpressionAttributeValues": counter_values,
                }
            },
            {
                "Put": {
                    "Item": {
                        "pk": pk,
                        "sk": invoice_sk(plan.invoice["invoiceId"]),
                        "gsi1pk": f"{pk}#INVOICENO",
                        "gsi1sk": f"{plan.invoice['invoiceNumber']:010d}",
                        **plan.invoice,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        taken = Tally[int]()
        for take in plan.takes:
            taken[take.order_item_id] += take.boxes
        for oid, boxes in taken.items():
            actions.append(
                {
                    "Update": {
                        "Key": {"pk": pk, "sk": record_sk(Kind.INVENTORY, oid)},
                        "UpdateExpression": "SET availableBoxes = availableBoxes - :boxes",
                        "ConditionExpression": "availableBoxes >= :boxes",
                        "ExpressionAttributeValues": {":boxes": boxes},
                    }
                }
            )
        actions.extend(
            {
                "Put": {
                    "Item": {"pk": pk, "sk": record_sk(Kind.CHARGES, charge["code"]), **charge},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for charge in plan.new_charges
        )
        if plan.idempotency_key and plan.idempotency_record is not None:
            expires = int((datetime.now(UTC) + IDEMPOTENCY_TTL).timestamp())
            actions.append(
                {
                    "Put": {
                        "Item": {
                            "pk": pk,
                            "sk": idempotency_sk(plan.idempotency_key),
                            "expiresAt": expires,
                            **plan.idempotency_record,
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        if len(actions) > 100:
            raise Conflict(
                "this invoice takes boxes from too many inventory lines for one atomic write (100); "
                "split it into two invoices"
            )
        try:
            self.table.transact(actions)
        except TransactionConflict as err:
            raise InventoryTaken("inventory, numbering or idempotency changed under us") from err

    def commit_change(self, plan: ChangePlan) -> None:
        pk = company_pk(plan.company_id)
        names = {f"#f{i}": name for i, name in enumerate(plan.changes)}
        values: dict[str, Any] = {f":f{i}": value for i, value in enumerate(plan.changes.values())}
        sets = [f"#f{i} = :f{i}" for i in range(len(plan.changes))]
        names |= {"#v": "version", "#s": "status"}
        values |= {":next": plan.expected_version + 1, ":shipped": InvoiceStatus.SHIPPED.value}
        if plan.expected_version == 0:
            version_condition = "attribute_exists(pk) AND attribute_not_exists(#v)"
        else:
            version_condition = "#v = :expected"
            values[":expected"] = plan.expected_version
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": {"pk": pk, "sk": invoice_sk(plan.invoice_id)},
                    "UpdateExpression": "SET " + ", ".join([*sets, "#v = :next"]),
                    "ConditionExpression": f"{version_condition} AND #s <> :shipped",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if plan.next_item_counter != plan.expected_item_counter:
            actions.append(
                {
                    "Update": {
                        "Key": {"pk": pk, "sk": COUNTER_SK},
                        "UpdateExpression": "SET invoiceItemId = :next",
                        "ConditionExpression": "invoiceItemId = :expected",
                        "ExpressionAttributeValues": {
                            ":next": plan.next_item_counter,
                            ":expected": plan.expected_item_counter,
                        },
                    }
                }
            )
        for oid, boxes in plan.inventory_deltas.items():
            taking = boxes > 0
            actions.append(
                {
                    "Update": {
                        "Key": {"pk": pk, "sk": record_sk(Kind.INVENTORY, oid)},
                        "UpdateExpression": f"SET availableBoxes = availableBoxes {'-' if taking else '+'} :boxes",
                        "ConditionExpression": "availableBoxes >= :boxes" if taking else "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":boxes": abs(boxes)},
                    }
                }
            )
        actions.extend(
            {
                "Put": {
                    "Item": {"pk": pk, "sk": record_sk(Kind.CHARGES, charge["code"]), **charge},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for charge in plan.new_charges
        )
        if plan.state is not None:  # an open sales order sent again with the change
            actions.append(DynamoSyncStateStore(self.table).put_action(plan.state.written, plan.state.expected_version))
        if len(actions) > 100:
            raise Conflict(
                "this change moves boxes on too many inventory lines for one atomic write (100); change fewer lines"
            )
        try:
            self.table.transact(actions)
        except TransactionConflict as err:
            raise InventoryTaken("the invoice, its inventory or the numbering changed under us") from err

    def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None:
        item = self.table.get(company_pk(company_id), invoice_sk(invoice_id))
        return _public(item) if item else None

    def get_by_number(self, company_id: str, invoice_number: int) -> dict[str, Any] | None:
        items = list(
            self.table.query_prefix(
                f"{company_pk(company_id)}#INVOICENO", f"{invoice_number:010d}", index="gsi1", limit=1
            )
        )
        return self.get(company_id, int(items[0]["invoiceId"])) if items else None

    def set_status(self, company_id: str, invoice_id: int, expected: str, status: str) -> dict[str, Any]:
        item = self.table.update(
            company_pk(company_id),
            invoice_sk(invoice_id),
            "SET #s = :s ADD #v :one",
            names={"#s": "status", "#v": "version"},
            values={":s": status, ":e": expected, ":one": 1},
            condition="#s = :e",
        )
        return _public(item)

    def change(
        self, company_id: str, invoice_id: int, expected_version: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        update = _versioned_update(changes, expected_version)
        item = self.table.update(
            company_pk(company_id),
            invoice_sk(invoice_id),
            update["UpdateExpression"],
            names=update["ExpressionAttributeNames"],
            values=update["ExpressionAttributeValues"],
            condition=update["ConditionExpression"],
        )
        return _public(item)

    def change_with_state(
        self, company_id: str, invoice_id: int, expected_version: int, changes: dict[str, Any], state: StateWrite
    ) -> dict[str, Any]:
        """The invoice's change and its sync state's write in one transaction, each conditional on its version."""
        invoice = {"Key": {"pk": company_pk(company_id), "sk": invoice_sk(invoice_id)}}
        try:
            self.table.transact(
                [
                    {"Update": {**invoice, **_versioned_update(changes, expected_version)}},
                    DynamoSyncStateStore(self.table).put_action(state.written, state.expected_version),
                ]
            )
        except Conflict as err:
            raise Conflict(f"invoice {invoice_id} or its accounting state changed meanwhile; reload it") from err
        written = self.get(company_id, invoice_id)
        if written is None:
            raise Conflict(f"invoice {invoice_id} was removed meanwhile")
        return written

    def list(self, company_id: str, limit: int, after: int | None) -> tuple[list[dict[str, Any]], int | None]:
        start = invoice_sk(after) if after else None
        items = list(self.table.query_prefix(company_pk(company_id), "INVOICE#", limit=limit + 1, start_after=start))
        page = [_public(i) for i in items[:limit]]
        return page, (int(page[-1]["invoiceId"]) if len(items) > limit else None)


def _versioned_update(changes: dict[str, Any], expected_version: int) -> dict[str, Any]:
    """An update of ``changes`` that moves the version on by one, conditional on ``expected_version``."""
    names = {f"#f{i}": name for i, name in enumerate(changes)}
    values: dict[str, Any] = {f":f{i}": value for i, value in enumerate(changes.values())}
    sets = [f"#f{i} = :f{i}" for i in range(len(changes))]
    names["#v"] = "version"
    values[":next"] = expected_version + 1
    if expected_version == 0:
        condition = "attribute_exists(pk) AND attribute_not_exists(#v)"
    else:
        condition = "#v = :expected"
        values[":expected"] = expected_version
    return {
        "UpdateExpression": "SET " + ", ".join([*sets, "#v = :next"]),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": storable(values),
    }


def _public(item: dict[str, Any]) -> dict[str, Any]:
    record = strip_keys(item)
    record.pop("response", None)
    return record
