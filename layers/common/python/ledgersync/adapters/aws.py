"""Lazily built boto3 clients, one per service and process. Nothing connects at import time.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client at moto.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource


@cache
def client(service: str) -> Any:
    """A shared low-level client for ``service`` (sqs, s3, ses, secretsmanager, events, cloudwatch)."""
    import boto3
    from botocore.config import Config

    session: Any = boto3.session.Session()
    return session.client(
        service, config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
    )


_local = threading.local()


def dynamodb() -> DynamoDBServiceResource:
    """The DynamoDB resource of this thread (resources are not thread-safe); its ``meta.client`` accepts plain
    Python values in transactions and batches."""
    resource: DynamoDBServiceResource | None = getattr(_local, "dynamodb", None)
    if resource is None:
        import boto3
        from botocore.config import Config

        resource = boto3.session.Session().resource(
            "dynamodb",
            config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10),
        )
        _local.dynamodb = resource
    return resource


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
    _local.__dict__.clear()
