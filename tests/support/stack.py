"""Create the AWS resources tests need, from template.yaml's own declarations."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any


def table_definition() -> dict[str, Any]:
    """The LedgersyncTable's key schema, indexes and TTL as template.yaml declares them."""
    return copy.deepcopy(_table_definition())


@cache
def _table_definition() -> dict[str, Any]:
    # template.yaml is parsed once per test process: parsing it (pure-Python YAML, 2,000 lines) cost about a second
    # per test, more than everything else the ``aws`` and ``moto_server`` fixtures do.
    from devstack.template import load_template

    template = load_template()
    return template["Resources"]["LedgersyncTable"]["Properties"]  # type: ignore[no-any-return]


def create_resources(admin_key: str) -> None:
    """The table, the admin key secret, the bucket, the queues and the SES sender, made with the service's own
    clients (``ledgersync.adapters.aws.client``: moto resets boto3's default session every time it starts, so clients
    of that session would parse their service models again in every test)."""
    import os

    from ledgersync.adapters.aws import client

    props = table_definition()
    dynamodb = client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": os.environ["TABLE_NAME"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    dynamodb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=os.environ["TABLE_NAME"], TimeToLiveSpecification=ttl)
    client("secretsmanager").create_secret(Name=os.environ["ADMIN_API_KEY_SECRET"], SecretString=admin_key)
    client("s3").create_bucket(Bucket=os.environ["DOCUMENTS_BUCKET"])
    sqs = client("sqs")
    for variable, name in (
        ("SYNC_QUEUE_URL", "ledgersync-sync"),
        ("WEBHOOK_QUEUE_URL", "ledgersync-webhook"),
        ("SYNC_DEAD_LETTER_QUEUE_URL", "ledgersync-sync-dlq"),
    ):
        os.environ[variable] = sqs.create_queue(QueueName=name)["QueueUrl"]
    client("ses").verify_email_identity(EmailAddress="no-reply@ledgersync.local")
