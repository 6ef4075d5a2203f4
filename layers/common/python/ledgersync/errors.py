"""Domain errors. Adapters translate every SDK or HTTP failure into one of these; handlers map them to HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    """One bad input field: where it is (dotted path) and why it was refused."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class LedgersyncError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "InternalError"

    def __init__(self, message: str, field_errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = list(field_errors or [])  # the error body's ``errors``


class ValidationFailed(LedgersyncError):
    """The request was understood but a field is wrong. Always names the field."""

    status_code = 400
    code = "ValidationFailed"

    def __init__(self, errors: list[FieldError] | FieldError, message: str | None = None) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        first = self.errors[0] if self.errors else FieldError("", "invalid input")
        super().__init__(message or f"{first.field}: {first.message}" if first.field else first.message, self.errors)


class Unauthorized(LedgersyncError):
    status_code = 401
    code = "Unauthorized"


class Forbidden(LedgersyncError):
    status_code = 403
    code = "Forbidden"


class NotFound(LedgersyncError):
    status_code = 404
    code = "NotFound"


class Gone(LedgersyncError):
    status_code = 410
    code = "Gone"


class Conflict(LedgersyncError):
    status_code = 409
    code = "Conflict"


class PayloadTooLarge(LedgersyncError):
    status_code = 413
    code = "PayloadTooLarge"


class UnsupportedMediaType(ValidationFailed):
    """The body comes in a media type the route does not read (it reads JSON). Names the header."""

    status_code = 415
    code = "UnsupportedMediaType"


class DamagedRecord(LedgersyncError):
    """A stored record can no longer be read (written by hand, or by an older version): names the record and how
    to replace it. Not a fault of the caller's request, but one only a person can fix, so not a 5xx to retry."""

    status_code = 409
    code = "DamagedRecord"


class RetryableError(LedgersyncError):
    """An outside fault that may pass: throttling, timeouts, 5xx. The work is retried, never dropped."""

    status_code = 503
    code = "Retryable"

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class NotConfigured(RetryableError):
    """The operator has not finished configuring the service (an empty app secret); it passes once they do.

    Queued work is retried, and on the queue's last receive held instead of failed: the customer can do nothing.
    """

    code = "NotConfigured"


class PermanentError(LedgersyncError):
    """An outside refusal that will not pass by retrying: validation, missing reference, bad credentials."""

    status_code = 422
    code = "Permanent"


class ReauthorizationRequired(LedgersyncError):
    """The accounting connection must be re-authorized by a person; work is held, not failed."""

    status_code = 409
    code = "ReauthorizationRequired"


@dataclass
class ErrorBody:
    """The JSON error body every route answers with."""

    code: str
    message: str
    errors: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body
