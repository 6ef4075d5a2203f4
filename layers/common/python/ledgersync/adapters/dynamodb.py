"""The single DynamoDB table: small typed helpers over the resource API (plain Python values, Decimal numbers)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from ledgersync.adapters.aws import dynamodb
from ledgersync.adapters.aws_errors import TransactionConflict, aws_call
from ledgersync.errors import DamagedRecord, LedgersyncError

__all__ = ["Item", "Key", "SingleTable", "TransactionConflict", "company_pk", "storable", "strip_keys"]

Item = dict[str, Any]
Key = tuple[str, str]


def company_pk(company_id: str) -> str:
    return f"COMPANY#{company_id}"


class SingleTable:
    """The one table every record lives in (see docs/data-model.md)."""

    def __init__(self, table_name: str) -> None:
        self.name = table_name

    @property
    def table(self) -> Any:
        return dynamodb().Table(self.name)

    @property
    def client(self) -> Any:
        return self.table.meta.client

    def get(self, pk: str, sk: str, consistent: bool = True) -> Item | None:
        with _calling(f"{pk} {sk}"):
            found = self.table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=consistent)
        item: Item | None = found.get("Item")
        return item

    def put(
        self,
        item: Item,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"Item": storable(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        with _calling(f"{item.get('pk')} {item.get('sk')}"):
            self.table.put_item(**kwargs)

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
        returns: str = "ALL_NEW",
    ) -> Item:
        """Update one item; ``returns="NONE"`` when the caller needs nothing back (the rest of the item is not read,
        so a write that replaces a damaged attribute still succeeds)."""
        kwargs: dict[str, Any] = {
            "Key": {"pk": pk, "sk": sk},
            "UpdateExpression": expression,
            "ReturnValues": returns,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        if condition:
            kwargs["ConditionExpression"] = condition
        with _calling(f"{pk} {sk}"):
            result: Item = self.table.update_item(**kwargs).get("Attributes", {})
        return result

    def delete(
        self,
        pk: str,
        sk: str,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"Key": {"pk": pk, "sk": sk}}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        with _calling(f"{pk} {sk}"):
            self.table.delete_item(**kwargs)

    def query_prefix(
        self,
        pk: str,
        sk_prefix: str,
        limit: int | None = None,
        start_after: str | None = None,
        index: str | None = None,
        forward: bool = True,
    ) -> Iterator[Item]:
        """Items of one partition whose sort key starts with ``sk_prefix`` (all when it is empty), in key order."""
        from boto3.dynamodb.conditions import Key as KeyCondition

        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        condition: Any = KeyCondition(pk_name).eq(pk)
        if sk_prefix:  # DynamoDB refuses begins_with with an empty operand (ValidationException)
            condition = condition & KeyCondition(sk_name).begins_with(sk_prefix)
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": forward}
        if index:
            kwargs["IndexName"] = index
        if limit:
            kwargs["Limit"] = limit
        if start_after is not None and not index:
            kwargs["ExclusiveStartKey"] = {"pk": pk, "sk": start_after}
        returned = 0
        while True:
            with _calling(f"{pk} {sk_prefix}*"):
                page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                yield item
                returned += 1
                if limit and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count_items(
        self,
        pk: str,
        index: str | None = None,
        item_filter: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """How many items one partition holds (``Select=COUNT``: no item is returned), optionally only those
        matching ``item_filter`` (a FilterExpression over the attribute ``order``, aliased ``#o``)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "gsi1pk" if index else "pk"},
            "ExpressionAttributeValues": {":pk": pk},
            "Select": "COUNT",
        }
        if index:
            kwargs["IndexName"] = index
        if item_filter:
            kwargs["FilterExpression"] = item_filter
            kwargs["ExpressionAttributeNames"]["#o"] = "order"
            kwargs["ExpressionAttributeValues"].update(values or {})
        total = 0
        while True:
            with _calling(f"{pk} (count)"):
                page = self.table.query(**kwargs)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def batch_get(self, keys: Sequence[Key]) -> dict[Key, Item]:
        """Read up to any number of items, 100 a request, consistently; missing ones are absent from the result."""
        unique = list(dict.fromkeys(keys))
        found: dict[Key, Item] = {}
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.name: {
                    "Keys": [{"pk": pk, "sk": sk} for pk, sk in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                with _calling(", ".join(f"{pk} {sk}" for pk, sk in unique[start : start + 3]) + " ..."):
                    answer = self.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.name, []):
                    found[(item["pk"], item["sk"])] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()) -> None:
        """Write many items (no conditions), resubmitting what DynamoDB leaves unprocessed."""
        first = puts[0] if puts else {"pk": deletes[0][0], "sk": deletes[0][1]} if deletes else {}
        with (
            _calling(f"{first.get('pk')} {first.get('sk')} and {len(puts) + len(deletes) - 1} more"),
            self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer,
        ):
            for item in puts:
                writer.put_item(Item=storable(item))
            for pk, sk in deletes:
                writer.delete_item(Key={"pk": pk, "sk": sk})

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """One atomic TransactWriteItems call; each action names its kind (Put, Update, ConditionCheck, Delete)."""
        items = []
        for action in actions:
            ((kind, body),) = action.items()
            items.append({kind: {"TableName": self.name, **storable(dict(body))}})
        with _calling(f"a transaction of {len(items)} writes"):
            self.client.transact_write_items(TransactItems=items)


@contextmanager
def _calling(record: str) -> Iterator[None]:
    """Every table call: SDK and parse failures become domain errors that name the record (``pk sk``)."""
    try:
        with aws_call(f"DynamoDB on {record}", "check the table and the function's permissions"):
            yield
    except LedgersyncError:
        raise
    except Exception as err:
        # The SDK could not write the value (NaN, a number DynamoDB cannot hold) or could not read the answer
        # (an attribute DynamoDB should never have accepted): the record is damaged, not the request.
        raise DamagedRecord(
            f"the record {record} cannot be stored or read ({type(err).__name__}: {str(err)[:200]}); "
            "write it again through the API to replace it"
        ) from err


def storable(value: Any) -> Any:
    """A value DynamoDB accepts: dates as ISO text, enums as their value, floats as Decimal."""
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def strip_keys(item: Mapping[str, Any]) -> dict[str, Any]:
    """The stored record without the table's key and index attributes."""
    return {k: v for k, v in item.items() if k not in {"pk", "sk", "gsi1pk", "gsi1sk", "expiresAt"}}
