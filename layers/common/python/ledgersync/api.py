"""What every API function shares: the resolver, error mapping, the body limit and the caller's identity."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import jsonio
from ledgersync.domain.accounts import Principal
from ledgersync.domain.purchase_orders import MAX_VENDOR_INVOICE_BODY_BYTES
from ledgersync.errors import (
    ErrorBody,
    FieldError,
    LedgersyncError,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from ledgersync.observability import logger
from ledgersync.validation import errors_from_details

JSON = "application/json"
# Read as JSON: no Content-Type, JSON itself, and curl's ``-d`` default (the body is JSON whatever curl says).
JSON_MEDIA_TYPES = {"", JSON, "application/x-www-form-urlencoded"}
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_DIRECTORY_BATCH = re.compile(r"/v1/directory/[^/]+")
_VENDOR_INVOICE = re.compile(r"/v1/purchase-orders/[^/]+/vendor-invoices(?:/[^/]+)?")
# The field a 401 names: where the refused credential is presented.
BEARER_FIELD = "Authorization"
KOMET_TOKEN_FIELD = "authenticationToken"


@dataclass(frozen=True)
class _RequestIdentity:
    """What the request being resolved presents: its Bearer token, and the principal ``resolve`` authenticated
    for a Komet call. It lives in a context variable for the length of one ``resolve``, never in the resolver or
    a router: Powertools keeps the current event on a class and a router's context on whichever resolver included
    it last, both shared by every request of the process."""

    bearer: str | None
    principal: Principal | None = None


_REQUEST_IDENTITY: ContextVar[_RequestIdentity | None] = ContextVar("ledgersync_request_identity", default=None)


def _loads(text: str) -> Any:
    return jsonio.loads(text)


def build_resolver() -> APIGatewayRestResolver:
    """A REST resolver that validates with pydantic, keeps decimals exact and answers errors as JSON."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_loads)

    @app.exception_handler(LedgersyncError)
    def _domain_error(err: LedgersyncError) -> Response[Any]:
        errors = err.field_errors
        if isinstance(err, Unauthorized) and not errors:
            # Every 401 names the credential it refused, wherever it was raised.
            field = KOMET_TOKEN_FIELD if app.current_event.path.startswith("/api/") else BEARER_FIELD
            errors = [FieldError(field, err.message)]
        if err.status_code >= 500:
            logger.warning("request failed", extra={"error": err.code, "reason": err.message})
        return error_response(app, err.status_code, ErrorBody(err.code, err.message, errors))

    @app.exception_handler(RequestValidationError)
    def _invalid_request(err: RequestValidationError) -> Response[Any]:
        errors = errors_from_details(err.errors(), body=err.body)
        message = f"{errors[0].field}: {errors[0].message}" if errors else "the request is invalid"
        return error_response(app, 400, ErrorBody("ValidationFailed", message, errors))

    @app.exception_handler(Exception)
    def _unexpected(err: Exception) -> Response[Any]:
        # The last resort: every bad input has its own 4xx; this is a fault of ours, logged with its stack.
        logger.exception("unexpected error", extra={"error": type(err).__name__})
        return error_response(app, 500, ErrorBody("InternalError", "the request could not be completed; try again"))

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[Any]:
        # A path parameter outside the route's pattern reaches no route: answer the API's error, not Powertools'.
        event = app.current_event
        return error_response(app, 404, ErrorBody("NotFound", f"nothing at {event.http_method} {event.path}"))

    return app


def error_response(app: APIGatewayRestResolver, status: int, body: ErrorBody) -> Response[Any]:
    """The JSON error; Komet-style methods (``/api/...``) also carry seed 002's ``status`` "0"."""
    payload = _error_payload(body, komet=app.current_event.path.startswith("/api/"))
    return Response(status_code=status, content_type=JSON, body=jsonio.dumps(payload))


def _error_payload(body: ErrorBody, *, komet: bool) -> dict[str, Any]:
    """The error as JSON; a Komet method's carries seed 002's ``status`` "0" first."""
    payload: dict[str, Any] = body.as_dict()
    return {"status": "0", **payload} if komet else payload


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=JSON, body=jsonio.dumps(body), headers=headers)


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Refuse bodies over the limit before anything parses them, and Komet calls without a valid token before
    their body is validated (a stranger learns nothing about the API from its errors); then route."""
    limit = _body_limit(str(event.get("httpMethod", "")), str(event.get("path", "")))
    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    komet = str(event.get("path", "")).startswith("/api/")
    if size > limit:
        err: LedgersyncError = PayloadTooLarge(f"the request body is {size} bytes; the limit is {limit} bytes")
        return _early_error(err, komet, [FieldError("body", err.message)])
    try:
        event = _json_event(event)
    except LedgersyncError as refused:
        return _early_error(refused, komet, refused.errors if isinstance(refused, ValidationFailed) else None)
    parses, token = _komet_event_token(event) if komet else (False, None)
    principal: Principal | None = None
    if parses:
        from ledgersync import bootstrap

        try:
            principal = bootstrap.services().accounts.authenticate(token)
        except Unauthorized as refused:
            return _early_error(refused, komet, [FieldError(KOMET_TOKEN_FIELD, refused.message)])
    app.clear_context()
    bound = _REQUEST_IDENTITY.set(_RequestIdentity(_event_bearer(event), principal))
    try:
        return app.resolve(event, context)
    finally:
        _REQUEST_IDENTITY.reset(bound)
        app.clear_context()
        logger.thread_safe_remove_keys(["company_id", "user_id"])


def _body_limit(method: str, path: str) -> int:
    """MAX_BODY_BYTES, except where a route's body is larger by design: a directory batch of 1,000 records, and a
    vendor invoice with its PDF (``MAX_VENDOR_INVOICE_BODY_BYTES``)."""
    from ledgersync import bootstrap

    settings = bootstrap.services().settings
    if method == "PUT" and _DIRECTORY_BATCH.fullmatch(path):
        return max(settings.max_body_bytes, settings.max_bulk_body_bytes)
    if _VENDOR_INVOICE.fullmatch(path) and method in {"POST", "PUT"}:
        return max(settings.max_body_bytes, MAX_VENDOR_INVOICE_BODY_BYTES)
    return settings.max_body_bytes


def _json_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body as JSON text: a base64 body decoded (it must be UTF-8), a JSON body sent with no
    Content-Type or as a form read as JSON, any other media type refused (415), the Idempotency-Key bounded."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    key = headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and key.isprintable()):
        raise ValidationFailed(
            FieldError("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters")
        )
    body = event.get("body")
    if not body:
        return event
    media_type = headers.get("content-type", "").split(";", maxsplit=1)[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            FieldError("Content-Type", f"must be {JSON} (the body is JSON), not {media_type[:100]}"),
        )
    text = str(body)
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationFailed(FieldError("body", "must be JSON text encoded as UTF-8")) from None
    others = {k: v for k, v in (event.get("headers") or {}).items() if str(k).lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if str(k).lower() != "content-type"}
    return {
        **event,
        "body": text,
        "isBase64Encoded": False,
        "headers": {**others, "Content-Type": JSON},
        "multiValueHeaders": {**multi, "Content-Type": [JSON]},
    }


def _early_error(err: LedgersyncError, komet: bool, errors: list[FieldError] | None = None) -> dict[str, Any]:
    payload = _error_payload(ErrorBody(err.code, err.message, errors or []), komet=komet)
    return {
        "statusCode": err.status_code,
        "headers": {"Content-Type": JSON},
        "body": jsonio.dumps(payload),
        "isBase64Encoded": False,
    }


def _komet_event_token(event: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether the body is JSON (or absent), and the token: ``authenticationToken`` from the JSON body or the
    query string, else a Bearer header. A malformed body is answered 400 whoever sends it: the token it may carry
    cannot be read, and the error says nothing about the API."""
    parsed: Any = None
    try:
        parsed = jsonio.loads(event.get("body") or "null")
    except (ValueError, ValidationFailed):
        return False, None
    found = parsed.get("authenticationToken") if isinstance(parsed, dict) else None
    query = event.get("queryStringParameters") or {}
    return True, (found if isinstance(found, str) else None) or query.get("authenticationToken") or _event_bearer(event)


def _event_bearer(event: dict[str, Any]) -> str | None:
    """The Bearer token of an API Gateway proxy event's Authorization header (any case), if any."""
    headers = event.get("headers") or {}
    header = next((str(v) for k, v in headers.items() if str(k).lower() == "authorization"), "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def caller(app: APIGatewayRestResolver | Router, method: str) -> Principal:
    """Authenticate the token of the request being resolved and check that it may call ``method``; Komet calls
    were authenticated by ``resolve`` already. Nothing but this request's own event is read."""
    from ledgersync import bootstrap

    del app  # the resolver's and routers' state is shared by every request of the process: never trusted here
    identity = _REQUEST_IDENTITY.get()
    if identity is None:
        raise Unauthorized("the request was not resolved through ledgersync.api.resolve; its caller is unknown")
    principal = identity.principal
    if principal is None:
        try:
            principal = bootstrap.services().accounts.authenticate(identity.bearer)
        except Unauthorized as refused:
            raise Unauthorized(refused.message, [FieldError(BEARER_FIELD, refused.message)]) from None
    principal.require_method(method)
    logger.thread_safe_append_keys(company_id=principal.company_id, user_id=principal.user_id)
    return principal


def make_api(
    *routers: Router,
) -> tuple[APIGatewayRestResolver, Callable[[dict[str, Any], LambdaContext], dict[str, Any]]]:
    """A function's resolver serving ``routers``, and its Lambda entry point with Powertools' logger and metrics."""
    from aws_lambda_powertools.logging import correlation_paths

    from ledgersync.observability import metrics, tracer

    app = build_resolver()
    for router in routers:
        app.include_router(router)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return resolve(app, event, context)

    return app, lambda_handler
