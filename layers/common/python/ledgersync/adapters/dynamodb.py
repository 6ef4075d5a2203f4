"""The single DynamoDB table: small typed helpers over the resource API (plain Python values, Decimal numbers)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from ledgersync.adapters.aws import dynamodb
from ledgersync.errors import Conflict, RetryableError

Item = dict[str, Any]
Key = tuple[str, str]

_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


def company_pk(company_id: str) -> str:
    return f"COMPANY#{company_id}"


class TransactionConflict(Conflict):
    """A transaction was cancelled: a condition failed or another writer got there first."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("the write was refused: " + ", ".join(reasons))
        self.reasons = reasons


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
        try:
            found = self.table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=consistent)
        except ClientError as err:
            raise _translate(err) from err
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
        try:
            self.table.put_item(**kwargs)
        except ClientError as err:
            raise _translate(err) from err

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
    ) -> Item:
        kwargs: dict[str, Any] = {
            "Key": {"pk": pk, "sk": sk},
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            result: Item = self.table.update_item(**kwargs)["Attributes"]
        except ClientError as err:
            raise _translate(err) from err
        return result

    def delete(self, pk: str, sk: str, condition: str | None = None, values: Mapping[str, Any] | None = None) -> None:
        kwargs: dict[str, Any] = {"Key": {"pk": pk, "sk": sk}}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        try:
            self.table.delete_item(**kwargs)
        except ClientError as err:
            raise _translate(err) from err

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
            try:
                page = self.table.query(**kwargs)
            except ClientError as err:
                raise _translate(err) from err
            for item in page.get("Items", []):
                yield item
                returned += 1
                if limit and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
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
                try:
                    answer = self.client.batch_get_item(RequestItems=request)
                except ClientError as err:
                    raise _translate(err) from err
                for item in answer["Responses"].get(self.name, []):
                    found[(item["pk"], item["sk"])] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()) -> None:
        """Write many items (no conditions), resubmitting what DynamoDB leaves unprocessed."""
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
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
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as err:
            if err.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in err.response.get("CancellationReasons", [])]
                raise TransactionConflict(reasons) from err
            raise _translate(err) from err


def _translate(err: ClientError) -> Exception:
    code = err.response["Error"]["Code"]
    if code == "ConditionalCheckFailedException":
        return Conflict("the record changed or already exists")
    if code in _RETRYABLE:
        return RetryableError(f"DynamoDB is busy ({code}); try again")
    return err


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
