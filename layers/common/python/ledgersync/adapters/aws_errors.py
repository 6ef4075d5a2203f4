"""The one translation of AWS SDK failures into domain errors. No other module catches or raises a botocore error.

Every adapter wraps its boto3 calls in ``aws_call(doing, fix)``: ``doing`` says what was being done ("reading the
webhook configuration of company c1"), ``fix`` what a person can do when AWS refuses. The rule:

- a failed condition (or a resource someone else created first) is a ``Conflict``, a cancelled transaction a
  ``TransactionConflict`` with its reasons;
- a resource that does not exist (a secret never written, an S3 key deleted, a missing table or queue) is an
  ``AwsResourceMissing``: callers that expect it (a company that never connected) catch it, any other caller
  sees a fault that is retried once an operator creates the resource, never dropped;
- throttling, timeouts, 5xx and an unreachable endpoint are a ``RetryableError``;
- a refused request or a missing permission is a ``PermanentError`` naming the code and the fix: retrying would not
  pass, a person must act;
- any other code is retried (``RetryableError``) with the fix in its message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from ledgersync.errors import Conflict, LedgersyncError, PermanentError, RetryableError

DEFAULT_FIX = "check the function's IAM permissions and the resource's name in the stack"

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "InternalServiceError",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)
MISSING_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchKey",
        "NoSuchBucket",
        "404",
        "NotFound",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)
REFUSED_CODES = frozenset(
    {
        "ValidationException",
        "ItemCollectionSizeLimitExceededException",
        "SerializationException",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidRequestException",
        "InvalidMessageContents",
        "MessageRejected",
        "MessageTooLong",
        "DecryptionFailure",
        "EntityTooLarge",
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "KMSAccessDeniedException",
    }
)


class AwsResourceMissing(RetryableError):
    """The AWS resource a call names does not exist. Callers that expect absence catch it; elsewhere it is retried
    (an operator creates the resource, then the work goes on)."""

    code = "ResourceMissing"


class TransactionConflict(Conflict):
    """A transaction was cancelled: a condition failed or another writer got there first."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("the write was refused: " + ", ".join(reasons))
        self.reasons = reasons


def translate_aws_error(err: ClientError | BotoCoreError, doing: str, fix: str = DEFAULT_FIX) -> LedgersyncError:
    """The domain error for one botocore failure (see the module's rule)."""
    if isinstance(err, BotoCoreError):
        return RetryableError(f"{doing} could not reach AWS ({type(err).__name__}); it will be retried")
    error = err.response.get("Error", {})
    code = str(error.get("Code", "")) or "Unknown"
    reason = str(error.get("Message", ""))[:300]
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "ConditionalCheckFailedException":
        return Conflict("the record changed or already exists")
    if code == "TransactionCanceledException":
        cancelled: list[dict[str, str]] = err.response.get("CancellationReasons", [])  # type: ignore[assignment]
        reasons = [str(r.get("Code", "None")) for r in cancelled]
        return TransactionConflict(reasons)
    if code == "ResourceExistsException":
        return Conflict(f"{doing} failed: it already exists")
    if code in MISSING_CODES:
        return AwsResourceMissing(f"{doing} failed: it does not exist ({code}); {fix}")
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return RetryableError(f"{doing} failed for a moment ({code}); it will be retried")
    if code in REFUSED_CODES:
        return PermanentError(f"{doing} was refused ({code}: {reason}); {fix}")
    return RetryableError(f"{doing} failed ({code}: {reason}); {fix}, then it is retried")


@contextmanager
def aws_call(doing: str, fix: str = DEFAULT_FIX) -> Iterator[None]:
    """Run boto3 calls; a botocore failure leaves as the domain error of ``translate_aws_error``."""
    try:
        yield
    except (ClientError, BotoCoreError) as err:
        raise translate_aws_error(err, doing, fix) from err
