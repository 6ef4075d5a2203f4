"""One translation of AWS SDK failures (adapters/aws_errors.py): no other module catches or raises a botocore error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ledgersync.adapters.aws_errors import AwsResourceMissing, TransactionConflict, aws_call, translate_aws_error
from ledgersync.errors import Conflict, PermanentError, RetryableError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers/common/python/ledgersync"
BOTOCORE_ERRORS = re.compile(r"\b(ClientError|BotoCoreError)\b|botocore\.exceptions")


def client_error(code: str, status: int = 400, **extra: object) -> ClientError:
    response: dict[str, object] = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, "AnyOperation")  # type: ignore[arg-type]


def test_no_module_but_aws_errors_names_a_botocore_error() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        if path.name != "aws_errors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BOTOCORE_ERRORS.search(line.replace("AuthClientError", ""))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottlingException", 400, RetryableError),
        ("ProvisionedThroughputExceededException", 400, RetryableError),
        ("SomethingNew", 503, RetryableError),
        ("SomethingNew", 400, RetryableError),
        ("ResourceNotFoundException", 400, AwsResourceMissing),
        ("NoSuchKey", 404, AwsResourceMissing),
        ("AccessDeniedException", 400, PermanentError),
        ("ValidationException", 400, PermanentError),
        ("ConditionalCheckFailedException", 400, Conflict),
        ("ResourceExistsException", 400, Conflict),
    ],
)
def test_a_client_error_becomes_its_domain_error_when_translated(code: str, status: int, kind: type) -> None:
    translated = translate_aws_error(client_error(code, status), "reading the thing", "grant the read")
    assert type(translated) is kind
    if kind is PermanentError:
        assert code in translated.message and "grant the read" in translated.message


def test_a_cancelled_transaction_names_its_reasons_when_translated() -> None:
    cancelled = client_error(
        "TransactionCanceledException", CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]
    )
    translated = translate_aws_error(cancelled, "writing")
    assert isinstance(translated, TransactionConflict)
    assert translated.reasons == ["None", "ConditionalCheckFailed"]


def test_an_unreachable_endpoint_is_retried_when_called_through_aws_call() -> None:
    unreachable = EndpointConnectionError(endpoint_url="https://s3.example")
    with pytest.raises(RetryableError, match="storing could not reach AWS") as raised, aws_call("storing"):
        raise unreachable
    assert isinstance(raised.value.__cause__, EndpointConnectionError)


def test_an_aws_resource_missing_is_retried_when_nobody_expects_it() -> None:
    # a missing table or queue is an operator's fix: the work is retried, never dropped
    assert issubclass(AwsResourceMissing, RetryableError)
