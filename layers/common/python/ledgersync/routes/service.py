"""Routes: health and the API's own description (OpenAPI 3 and a Swagger UI page)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ledgersync import bootstrap

router = Router()


@router.get("/v1/health", summary="200 once the service can reach its table")
def health() -> dict[str, Any]:
    bootstrap.table().get("HEALTH", "HEALTH", consistent=False)
    return {"status": "ok"}


@dataclass(frozen=True)
class Answers:
    """What one operation really answers: its success status and media type, its error statuses, who may call it."""

    success: int
    errors: tuple[int, ...]
    security: str = "bearer"
    media_type: str | None = "application/json"


# Every status below is one the route or ledgersync.api answers. 400: a parameter or body the models refuse;
# 401: no token or an unknown one; 403: a token without the method or a user without the role; 413/415: a body
# over the limit or not JSON (ledgersync.api, before routing); 404 also where a path parameter matches no route.
# Powertools' 422 is never answered: validation is 400.
BODY = (400, 401, 403, 413, 415)
READ = (400, 401, 403)
ANSWERS: dict[str, Answers] = {
    "GET /v1/health": Answers(200, ()),
    "POST /v1/companies": Answers(201, (400, 401, 409, 413, 415), security="adminKey"),
    "POST /v1/users": Answers(201, BODY),
    "POST /v1/tokens": Answers(201, BODY),
    "DELETE /v1/tokens/{token_id}": Answers(204, (*READ, 404), media_type=None),
    "PUT /v1/directory/{kind}": Answers(200, (*BODY, 404)),
    "GET /v1/directory/{kind}": Answers(200, (*READ, 404)),
    "GET /v1/accounting/settings": Answers(200, (401, 403)),
    "PUT /v1/accounting/settings": Answers(200, BODY),
    "GET /v1/accounting/connection": Answers(200, (401, 403)),
    "GET /v1/accounting/quickbooks-desktop/qwc": Answers(200, (401, 403), media_type="application/xml"),
    "GET /v1/accounting/quickbooks-online/authorize": Answers(200, (401, 403)),
    "GET /v1/accounting/quickbooks-online/callback": Answers(200, (400,), security="none"),
    "POST /v1/accounting/quickbooks-online/disconnect": Answers(200, (401, 403)),
    "PUT /v1/webhooks/po-reconciliation": Answers(200, BODY),
    "GET /v1/webhooks/po-reconciliation": Answers(200, (401, 403, 404)),
    "POST /api/invoice.create": Answers(201, (*BODY, 409), security="komet"),
    "POST /api/invoice.checkout": Answers(200, (*BODY, 404, 409), security="komet"),
    "GET /v1/invoices": Answers(200, READ),
    "GET /v1/invoices/{invoice_id}": Answers(200, (*READ, 404)),
    "PUT /v1/purchase-orders/{po_id}": Answers(200, (*BODY, 404, 409)),
    "GET /v1/purchase-orders/{po_id}": Answers(200, (*READ, 404)),
    "POST /v1/purchase-orders/{po_id}/vendor-invoices": Answers(201, (*BODY, 404, 409)),
    "PUT /v1/purchase-orders/{po_id}/vendor-invoices/{invoice_number}": Answers(200, (*BODY, 404, 409)),
    "DELETE /v1/purchase-orders/{po_id}/vendor-invoices/{invoice_number}": Answers(200, (*READ, 404, 409)),
    "POST /v1/purchase-orders/{po_id}/approvals": Answers(200, (*READ, 404, 409)),
    "POST /v1/purchase-orders/send-to-external": Answers(200, BODY),
    "POST /v1/purchase-orders/{po_id}/resend": Answers(202, (*READ, 404, 409)),
    "GET /v1/documents/{token}": Answers(200, (400, 403, 404, 410), security="none", media_type="application/pdf"),
    "GET /qbwc": Answers(200, (), security="none", media_type="text/xml"),
    "POST /qbwc": Answers(200, (), security="none", media_type="text/xml"),
    **{
        f"{method} /api/{name}.list": Answers(200, BODY if method == "POST" else READ, security="komet")
        for name in ("customer", "carrier", "location", "product", "boxtype", "inventory")
        for method in ("GET", "POST")
    },
}
DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted: the work is queued",
    204: "No Content",
    400: "A parameter or the body is invalid; errors name each field",
    401: "No token, or a token that is unknown or revoked",
    403: "The token may not call this method, or the user lacks the role",
    404: "Not found in this company",
    409: "The resource's state does not allow this now (see message)",
    410: "The link has expired: ask for a new one",
    413: "The body is over the size limit",
    415: "The body is not JSON",
}
SCHEMAS: dict[str, Any] = {
    "FieldErrorItem": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
        "additionalProperties": False,
    },
    "Error": {
        "type": "object",
        "description": "Every error: a code, a message a person can act on, and the fields at fault.",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldErrorItem"}},
        },
        "additionalProperties": False,
    },
    "KometError": {
        "type": "object",
        "description": 'An error of a Komet method (/api/...): the Error with seed 002\'s status "0".',
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["0"]},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldErrorItem"}},
        },
        "additionalProperties": False,
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "A token from POST /v1/companies or /v1/tokens."},
    "authenticationToken": {
        "type": "apiKey",
        "in": "query",
        "name": "authenticationToken",
        "description": "Komet methods (/api/...) also read the token from the JSON body's authenticationToken.",
    },
    "adminKey": {"type": "apiKey", "in": "header", "name": "X-Admin-Key", "description": "The operator's key."},
}
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "bearer": [{"bearer": []}],
    "komet": [{"authenticationToken": []}, {"bearer": []}],
    "adminKey": [{"adminKey": []}],
    "none": [],
}
_UNUSED = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def openapi_document(app: Any) -> dict[str, Any]:
    schema = app.get_openapi_schema(title="Ledgersync API", version="1.0.0")
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return declare_answers(document)


def declare_answers(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each operation's real statuses (``ANSWERS``), the error schemas and the security schemes.

    Raises LookupError for an operation the table does not know, so a new route cannot go undocumented."""
    described = copy.deepcopy(document)
    components = described.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _UNUSED:
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(SCHEMAS))
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    for path, operations in described.get("paths", {}).items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            answers = ANSWERS.get(key)
            if answers is None:
                raise LookupError(f"{key} is not in ledgersync.routes.service.ANSWERS; say what it answers there")
            operation["responses"] = _responses(answers, komet=path.startswith("/api/"))
            operation["security"] = SECURITY[answers.security]
    return described


def _responses(answers: Answers, *, komet: bool) -> dict[str, Any]:
    success: dict[str, Any] = {"description": DESCRIPTIONS[answers.success]}
    if answers.media_type == "application/json":
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    elif answers.media_type is not None:
        success["content"] = {answers.media_type: {"schema": {"type": "string"}}}
    error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{'KometError' if komet else 'Error'}"}}}
    responses = {str(answers.success): success}
    for status in answers.errors:
        responses[str(status)] = {"description": DESCRIPTIONS[status], "content": copy.deepcopy(error)}
    return responses


SWAGGER_PAGE = """<!doctype html><html><head><title>Ledgersync API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div><script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#ui"});</script></body></html>"""


def swagger_page() -> Response[str]:
    return Response(status_code=200, content_type="text/html", body=SWAGGER_PAGE)
