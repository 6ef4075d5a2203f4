"""Lazily built boto3 clients, one per service and process. Nothing connects at import time.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client at moto.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource


@cache
def client(service: str) -> Any:
    """A shared low-level client for ``service`` (sqs, s3, ses, secretsmanager, events, cloudwatch)."""
    from botocore.config import Config

    session: Any = _session()
    return session.client(
        service, config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
    )


_local = threading.local()


def dynamodb() -> DynamoDBServiceResource:
    """The DynamoDB resource of this thread (resources are not thread-safe); its ``meta.client`` accepts plain
    Python values in transactions and batches."""
    resource: DynamoDBServiceResource | None = getattr(_local, "dynamodb", None)
    if resource is None:
        from botocore.config import Config

        resource = _session().resource(
            "dynamodb",
            config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10),
        )
        _local.dynamodb = resource
    return resource


# What a session reads from the environment once and keeps (endpoint, credentials, region): a change of any of them
# gives a new session.
_SESSION_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)
_sessions = threading.local()


def _session() -> Any:
    """This thread's boto3 session for the current AWS environment (sessions are not thread-safe). Every session
    reads the service models through one loader, so each model is parsed once per process (about half a second a
    client otherwise: clients built again after ``reset_clients``, a resource built on each new thread)."""
    import boto3
    import botocore.session

    key = tuple(os.environ.get(name) for name in _SESSION_ENVIRONMENT)
    known: dict[tuple[str | None, ...], Any] = _sessions.__dict__.setdefault("by_environment", {})
    if key not in known:
        core = botocore.session.Session()
        loader = _service_models()
        core.register_component("data_loader", loader)
        known[key] = boto3.session.Session(botocore_session=core)
        loader.search_paths[:] = dict.fromkeys(loader.search_paths)  # boto3 adds its folder again on every session
    return known[key]


@cache
def _service_models() -> Any:
    """The process's one botocore loader: it caches every model file it parses."""
    from botocore.loaders import create_loader

    return create_loader(os.environ.get("AWS_DATA_PATH"))


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
    _local.__dict__.clear()
