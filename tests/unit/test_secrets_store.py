"""The one Secrets Manager JSON store: get, create-or-put (safe when two first writes race), errors translated."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ledgersync.adapters.secrets import SecretsManagerJsonStore
from ledgersync.errors import PermanentError, RetryableError

NAME = "ledgersync/webhook/c1"
ARN = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{NAME}-AbCdEf"


def stubbed() -> tuple[SecretsManagerJsonStore, Stubber]:
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return SecretsManagerJsonStore("ledgersync/webhook/", "the webhook configuration of company", client), Stubber(
        client
    )


def test_a_document_round_trips_and_a_second_save_is_a_new_version_when_saved_twice(aws: None) -> None:
    store = SecretsManagerJsonStore("ledgersync/webhook", "the webhook configuration of company")

    assert store.load("c1") is None
    store.save("c1", {"url": "https://a.example"}, "first")
    store.save("c1", {"url": "https://b.example", "n": 2})

    assert store.load("c1") == {"url": "https://b.example", "n": 2}
    described = boto3.client("secretsmanager").describe_secret(SecretId=NAME)
    assert described["Description"] == "first"
    assert len(boto3.client("secretsmanager").list_secret_version_ids(SecretId=NAME)["Versions"]) == 2


def test_the_save_whose_create_loses_a_race_writes_a_new_version_when_another_writer_created_the_secret() -> None:
    # Given a secret that did not exist at our put but that another first write created before our create
    store, stub = stubbed()
    body: dict[str, Any] = {"SecretId": NAME, "SecretString": '{"url":"https://a.example"}'}
    stub.add_client_error("put_secret_value", "ResourceNotFoundException", expected_params=body)
    stub.add_client_error("create_secret", "ResourceExistsException", http_status_code=400)
    stub.add_response("put_secret_value", {"ARN": ARN, "Name": NAME, "VersionId": "a" * 32}, expected_params=body)
    # When
    with stub:
        store.save("c1", {"url": "https://a.example"})
    # Then our value was written as a version of the secret the other writer created
    stub.assert_no_pending_responses()


def test_a_throttled_read_is_retried_and_a_refused_write_names_the_fix_when_aws_fails() -> None:
    store, stub = stubbed()
    stub.add_client_error("get_secret_value", "ThrottlingException", http_status_code=400)
    stub.add_client_error("put_secret_value", "AccessDeniedException", http_status_code=400)
    with stub:
        with pytest.raises(RetryableError, match="reading the webhook configuration of company c1"):
            store.load("c1")
        with pytest.raises(PermanentError, match=r"secretsmanager permissions on ledgersync/webhook/\*"):
            store.save("c1", {"url": "x"})


def test_a_secret_that_is_not_a_json_object_is_refused_with_its_name_when_read() -> None:
    store, stub = stubbed()
    stub.add_response("get_secret_value", {"ARN": ARN, "Name": NAME, "SecretString": '["not", "an object"]'})
    with stub, pytest.raises(PermanentError, match="configuration of company c1 is not a JSON object"):
        store.load("c1")
