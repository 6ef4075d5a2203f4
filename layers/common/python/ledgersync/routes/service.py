"""Routes: health and the API's own description (OpenAPI 3 and a Swagger UI page)."""

from __future__ import annotations

import base64
import copy
import functools
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict

from ledgersync import bootstrap
from ledgersync.api import json_response
from ledgersync.domain.service_health import ServiceHealthAnswer
from ledgersync.errors import FieldError, NotFound

router = Router()


def answered(model: BaseModel, status: int = 200, **dump: Any) -> Response[Any]:
    """A route's JSON answer: ``model`` dumped by its aliases (``dump`` adds ``model_dump``'s other options)."""
    return json_response(status, model.model_dump(by_alias=True, **dump))


def described(model: type[BaseModel], status: int = 200) -> dict[int, OpenAPIResponse]:
    """A route's ``responses=``: the model its success answers with (``status`` as ``ANSWERS`` has it).

    Routes serialize their answer themselves (``ledgersync.api.json_response``: money as JSON numbers, non-ASCII as
    is, the nulls each answer has always had), so the model is declared here rather than as the return annotation,
    which would make Powertools serialize it its own way. ``declare_answers`` keeps this schema and adds the rest."""
    return {status: {"description": DESCRIPTIONS[status], "content": {"application/json": {"model": model}}}}


@dataclass(frozen=True)
class Answers:
    """What one operation really answers: its success status and media type, its error statuses, who may call it."""

    success: int
    errors: tuple[int, ...]
    security: str = "bearer"
    media_type: str | tuple[str, ...] | None = "application/json"
    error_media_type: str | tuple[str, ...] = "application/json"  # the Web Connector's faults are SOAP envelopes
    faults: bool = True  # may answer FAULTS (500, 503) in the error shape; the Web Connector answers SOAP only
    # Error statuses that may also answer a body of the route's own (by its schema's name) instead of the error.
    error_bodies: tuple[tuple[int, str], ...] = ()


# Every status below is one the route or ledgersync.api answers. 400: a parameter or body the models refuse;
# 401: no token or an unknown one; 403: a token without the method or a user without the role; 413/415: a body
# over the limit or not JSON (ledgersync.api, before routing); 404 also where a path parameter matches no route.
# Powertools' 422 is never answered: validation is 400.
BODY = (400, 401, 403, 413, 415)
SOAP = ("text/xml", "application/soap+xml")  # SOAP 1.1 and 1.2 envelopes
READ = (400, 401, 403)
ANSWERS: dict[str, Answers] = {
    "GET /v1/health": Answers(200, ()),
    "GET /v1/openapi.json": Answers(200, (), security="none"),
    "GET /v1/docs": Answers(200, (), security="none", media_type="text/html"),
    "GET /v1/docs/{asset}": Answers(200, (404,), security="none", media_type=("text/javascript", "text/css")),
    "POST /v1/companies": Answers(201, (400, 401, 409, 413, 415), security="adminKey"),
    "GET /v1/companies/{company_id}/health": Answers(200, (400, 401, 404, 409), security="adminKey"),
    "POST /v1/users": Answers(201, BODY),
    "POST /v1/tokens": Answers(201, BODY),
    "DELETE /v1/tokens/{token_id}": Answers(204, (*READ, 404), media_type=None),
    "PUT /v1/directory/{kind}": Answers(200, (*BODY, 404)),
    "GET /v1/directory/{kind}": Answers(200, (*READ, 404)),
    "GET /v1/accounting/settings": Answers(200, (401, 403)),
    "PUT /v1/accounting/settings": Answers(200, BODY),
    "GET /v1/accounting/connection": Answers(200, (401, 403)),
    "GET /v1/process-log": Answers(200, READ),
    "GET /v1/process-log/{run_id}": Answers(200, (*READ, 404)),
    "GET /v1/accounting/export/preview": Answers(200, (401, 403, 409)),
    "POST /v1/accounting/export": Answers(202, (401, 403, 409)),
    "GET /v1/accounting/quickbooks-desktop/qwc": Answers(200, (401, 403), media_type="application/xml"),
    "GET /v1/accounting/quickbooks-online/authorize": Answers(200, (401, 403)),
    # 409: Intuit refused the code (expired, used or revoked): reconnect from authorize
    "GET /v1/accounting/quickbooks-online/callback": Answers(200, (400, 409), security="none"),
    "POST /v1/accounting/quickbooks-online/disconnect": Answers(200, (401, 403)),
    "PUT /v1/webhooks/po-reconciliation": Answers(200, BODY),
    "GET /v1/webhooks/po-reconciliation": Answers(200, (401, 403, 404)),
    # 409 is also seed 002's answer when no item got a box ("Item is not available", what each item could have had).
    "POST /api/invoice.create": Answers(
        201, (*BODY, 409), security="komet", error_bodies=((409, "InvoiceCreateResponse"),)
    ),
    "POST /api/invoice.checkout": Answers(200, (*BODY, 404, 409), security="komet"),
    "GET /v1/invoices": Answers(200, READ),
    "GET /v1/invoices/{invoice_id}": Answers(200, (*READ, 404)),
    "PUT /v1/invoices/{invoice_id}": Answers(200, (*BODY, 404, 409)),
    "POST /v1/invoices/{invoice_id}/confirm": Answers(200, (*READ, 404, 409)),
    "POST /v1/invoices/{invoice_id}/ship": Answers(200, (*BODY, 404, 409)),
    "POST /v1/invoices/{invoice_id}/unship": Answers(200, (*READ, 404, 409)),
    "POST /v1/invoices/{invoice_id}/send-now": Answers(202, (*READ, 404, 409)),
    "POST /v1/invoices/{invoice_id}/send-again": Answers(202, (*BODY, 404, 409)),
    "POST /v1/invoices/{invoice_id}/send-sales-order": Answers(202, (*BODY, 404, 409)),
    "PUT /v1/purchase-orders/{po_id}": Answers(200, (*BODY, 404, 409)),
    "GET /v1/purchase-orders/{po_id}": Answers(200, (*READ, 404)),
    "POST /v1/purchase-orders/{po_id}/vendor-invoices": Answers(201, (*BODY, 404, 409)),
    "PUT /v1/purchase-orders/{po_id}/vendor-invoices/{invoice_number}": Answers(200, (*BODY, 404, 409)),
    "DELETE /v1/purchase-orders/{po_id}/vendor-invoices/{invoice_number}": Answers(200, (*READ, 404, 409)),
    "POST /v1/purchase-orders/{po_id}/approvals": Answers(200, (*READ, 404, 409)),
    "POST /v1/purchase-orders/send-to-external": Answers(200, BODY),
    "POST /v1/purchase-orders/{po_id}/resend": Answers(202, (*READ, 404, 409)),
    "POST /v1/purchase-orders/{po_id}/send-again": Answers(202, (*BODY, 404, 409)),
    "GET /v1/documents/{token}": Answers(200, (400, 403, 404, 410), security="none", media_type="application/pdf"),
    "GET /qbwc": Answers(200, (), security="none", media_type=("text/xml", "text/html"), faults=False),
    "POST /qbwc": Answers(200, (500,), security="none", media_type=SOAP, error_media_type=SOAP, faults=False),
    **{
        f"{method} /api/{name}.list": Answers(200, BODY if method == "POST" else READ, security="komet")
        for name in ("customer", "carrier", "location", "product", "boxtype", "inventory")
        for method in ("GET", "POST")
    },
}
FAULTS = (500, 503)
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
    500: "A fault of ours (logged); the Web Connector's is a SOAP Fault whose faultstring says why",
    503: "An outside fault that may pass (throttled, unreachable, not configured yet: the message says): retry later",
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


@router.get("/v1/health", summary="200 once the service can reach its table", responses=described(ServiceHealthAnswer))
def health() -> Response[Any]:
    return json_response(200, bootstrap.services().service_health.check().model_dump(mode="json"))


class OpenAPIDocument(BaseModel):
    """``GET /v1/openapi.json``: an OpenAPI 3.1 document (the specification describes the rest of its shape)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
    tags: list[dict[str, Any]]


def openapi_document(app: Any) -> dict[str, Any]:
    """The API described as OpenAPI 3: the resolver's routes and the Web Connector, with what each answers.

    The one rule for both the served ``/v1/openapi.json`` and ``docs/openapi.json`` (``devstack.openapi``): the
    management function's resolver carries every JSON router; the Web Connector's SOAP endpoint is a function of its
    own that no router describes, so its operations are written here (``WEB_CONNECTOR``)."""
    schema = app.get_openapi_schema(title="Ledgersync API", version="1.0.0", description=DESCRIPTION)
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    paths = document.setdefault("paths", {})
    for path, operations in WEB_CONNECTOR.items():
        paths.setdefault(path, {}).update(copy.deepcopy(operations))
    return declare_answers(document)


DESCRIPTION = (
    "Ledgersync synchronizes invoices and purchase orders, exactly once, into QuickBooks Online, QuickBooks Desktop "
    "(through the Web Connector) or the customer's PO Reconciliation webhook.\n\n"
    "**Authorize** with a token from `POST /v1/companies` or `POST /v1/tokens`: `bearer` sends it as "
    "`Authorization: Bearer <token>`; the Komet methods (`/api/...`) also take it as `authenticationToken` (in the "
    "query, or in the JSON body as seed 002 does). Every error is `{code, message, errors: [{field, message}]}`; the "
    'Komet methods add `status: "0"`.'
)
# Each operation's tag is that of the longest path prefix it starts with: the areas, in the order the page shows them.
TAGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Companies, users and tokens", "A company, its users and their API tokens.", ("/v1/companies", "/v1/users",
                                                                                   "/v1/tokens")),
    ("Directory", "Customers, carriers, locations, products, box types, inventory, vendors and charges.",
     ("/v1/directory",)),
    ("Komet list methods", "Seed 002's list methods, read from the directory.", ("/api/customer.list",
     "/api/carrier.list", "/api/location.list", "/api/product.list", "/api/boxtype.list", "/api/inventory.list")),
    ("Invoices", "Seed 002: invoice.create and invoice.checkout, and the invoices created.",
     ("/api/invoice.", "/v1/invoices")),
    ("Purchase orders", "Seed 000: purchase orders, vendor invoices, approvals and Send to External System.",
     ("/v1/purchase-orders", "/v1/documents")),
    ("Accounting system", "The company's external system: settings, QuickBooks Online connection.",
     ("/v1/accounting",)),
    ("PO Reconciliation webhook", "Seed 001: the customer's endpoint that receives each sent purchase order.",
     ("/v1/webhooks",)),
    ("QuickBooks Desktop (Web Connector)", "The .qwc file and the SOAP service the QuickBooks Web Connector calls.",
     ("/v1/accounting/quickbooks-desktop", "/qbwc")),
    ("Process log", "Each background run of the company: exports, automatic releases, token refreshes, Web Connector "
     "sessions, with their counts and messages.", ("/v1/process-log",)),
    ("Service", "Health and this description.", ("/v1/health", "/v1/openapi.json", "/v1/docs")),
)  # fmt: skip


def tag_of(path: str) -> str:
    """The area an operation belongs to; LookupError for a path no area claims, so a new route gets one."""
    claims = [(len(prefix), name) for name, _, prefixes in TAGS for prefix in prefixes if path.startswith(prefix)]
    if not claims:
        raise LookupError(f"{path} is in no area of ledgersync.routes.service.TAGS; give it one")
    return max(claims)[1]


# A minimal PDF (the vendor's invoice), base64-encoded as the API takes it.
_SAMPLE_PDF = base64.b64encode(
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
).decode()
_AUTHORIZE = "The token goes with the Authorize button (seed 002 also allows authenticationToken in the body)."
# Request samples, named as the seeds name them; each is sent to its route by tests/unit/test_openapi_document.py.
EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "POST /api/invoice.create": {
        "sample1": {
            "summary": "Seed 002 Sample 1: customer, carrier and inventory item by id",
            "description": _AUTHORIZE,
            "value": {
                "customerId": 99999,
                "carrierId": 423,
                "shipDate": "2014-04-10",
                "poNumber": "PO9999",
                "reference": "R99999",
                "warehouseInstructions": "Text for instructions",
                "invoiceNotes": "Text for label instructions",
                "additionalCharges": [{"code": "BT", "name": "Balance Transfer", "value": 10}],
                "items": [
                    {
                        "orderItemId": 9999999,
                        "boxes": 5,
                        "price": 2.50,
                        "markCode": "text for mark code",
                        "productAlias": "text for product alias",
                        "notes": "text for notes",
                    }
                ],
            },
        },
        "sample2": {
            "summary": "Seed 002 Sample 2: customer, carrier and product by code",
            "description": _AUTHORIZE,
            "value": {
                "customerCode": "ANG",
                "customerDescription": "Ang Flowers LLC",
                "carrierCode": "AR",
                "carrierDescription": "Armellini",
                "poNumber": "2728",
                "reference": "This is a reference",
                "shipDate": "2014-09-10",
                "warehouseInstructions": "This is where the instructions to the warehouse go.",
                "invoiceNotes": "Invoice notes go here",
                "returnAvailableBoxes": 1,
                "items": [
                    {
                        "productCode": "RSAS60",
                        "boxes": 10,
                        "price": 0.30,
                        "boxTypeCode": "HB",
                        "unitsPerBox": 6,
                        "unitType": "Bunch",
                    }
                ],
            },
        },
    },
    "POST /api/invoice.checkout": {
        "checkout": {"summary": "Finalize a draft invoice (statusDraft 1)", "value": {"invoiceNumber": 85443}},
    },
    **{
        f"POST /api/{name}.list": {
            "all": {"summary": f"Every active {name} record", "value": {}},
            "byCode": {"summary": "One record by its code", "value": {"code": code}},
        }
        for name, code in (
            ("customer", "ANG"),
            ("carrier", "AR"),
            ("location", "02"),
            ("product", "RSAS60"),
            ("boxtype", "HB"),
            ("inventory", "RSAS60"),
        )
    },
    "PUT /v1/purchase-orders/{po_id}": {
        "P002271": {
            "summary": "Seed 001's purchase order P002271 (Chicago), with its items and a freight charge",
            "description": "Seed 000: a PO without additional charges cannot be sent to the external system.",
            "value": {
                "poNumber": "P002271",
                "vendorId": 29697,
                "locationId": 3,
                "shipDate": "2020-03-27",
                "arrivalDate": "2020-03-27",
                "items": [
                    {"categoryProcurementAccountingCode": "CGEN", "totalCost": 10.0},
                    {"categoryProcurementAccountingCode": "PGEN", "totalCost": 10.0},
                ],
                "additionalCharges": [{"code": "FRT", "name": "Freight", "amount": 5.0}],
            },
        },
    },
    "POST /v1/purchase-orders/{po_id}/vendor-invoices": {
        "01-P002271": {
            "summary": "Seed 001's vendor invoice 01-P002271 with its PDF",
            "value": {
                "invoiceNumber": "01-P002271",
                "invoiceAmount": 20.0,
                "totalAdditionalCharges": 0.0,
                "pdfBase64": _SAMPLE_PDF,
            },
        },
    },
    "POST /v1/purchase-orders/send-to-external": {
        "one": {"summary": 'Seed 000: Actions > "Send to External System"', "value": {"purchaseOrderIds": [12345]}},
    },
    "PUT /v1/webhooks/po-reconciliation": {
        "bearer": {
            "summary": "Seed 001 step two: the endpoint with a bearer token",
            "value": {
                "url": "https://theexternalsystem.com/po-reconciliation",
                "auth": {"type": "bearer", "token": "the-token-your-endpoint-expects"},
                "errorEmails": ["ap@example.com", "sales@example.com"],
            },
        },
        "basic": {
            "summary": "Seed 001 step two: the endpoint with Basic authentication",
            "value": {
                "url": "https://theexternalsystem.com/po-reconciliation",
                "auth": {"type": "basic", "username": "komet", "password": "the-password"},
                "errorEmails": ["ap@example.com"],
            },
        },
    },
}

_AUTHENTICATE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <authenticate xmlns="http://developer.intuit.com/">
      <strUserName>the user name of the .qwc file</strUserName>
      <strPassword>a token without API methods (seed 000)</strPassword>
    </authenticate>
  </soap:Body>
</soap:Envelope>
"""
# The Web Connector's endpoint, as the QuickBooks Web Connector uses it (its resolver describes no SOAP).
WEB_CONNECTOR: dict[str, dict[str, Any]] = {
    "/qbwc": {
        "get": {
            "summary": "The Web Connector service's WSDL (?wsdl), else its support page",
            "operationId": "describe_web_connector",
            "parameters": [
                {
                    "name": "wsdl",
                    "in": "query",
                    "required": False,
                    "allowEmptyValue": True,
                    "description": "Present (`?wsdl`): the WSDL (text/xml); absent: the support page (text/html).",
                    "schema": {"type": "string"},
                }
            ],
        },
        "post": {
            "summary": "A Web Connector SOAP call: authenticate, sendRequestXML, receiveResponseXML, ...",
            "description": (
                "SOAP 1.1 (text/xml) or 1.2 (application/soap+xml) in namespace http://developer.intuit.com/: "
                "authenticate, sendRequestXML, receiveResponseXML, getLastError, connectionError, closeConnection, "
                "serverVersion, clientVersion. The password is a token created without API methods (seed 000); the "
                "QuickBooks Web Connector sends it, configured by the .qwc file of "
                "GET /v1/accounting/quickbooks-desktop/qwc."
            ),
            "operationId": "call_web_connector",
            "requestBody": {
                "required": True,
                "content": {
                    media_type: {"schema": {"type": "string"}, "examples": {"authenticate": {"value": _AUTHENTICATE}}}
                    for media_type in ("text/xml", "application/soap+xml")
                },
            },
        },
    }
}


def declare_answers(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each operation's real statuses (``ANSWERS``), its area (``TAGS``), the seeds' request
    samples (``EXAMPLES``), the error schemas and the security schemes.

    Raises LookupError for an operation the table does not know, so a new route cannot go undocumented, and for an
    example whose operation takes no JSON body."""
    described = copy.deepcopy(document)
    components = described.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _UNUSED:
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(SCHEMAS))
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    used: set[str] = set()
    for path, operations in described.get("paths", {}).items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            answers = ANSWERS.get(key)
            if answers is None:
                raise LookupError(f"{key} is not in ledgersync.routes.service.ANSWERS; say what it answers there")
            missing = [name for _, name in answers.error_bodies if name not in schemas]
            if missing:
                raise LookupError(f"{key}: no schema named {', '.join(missing)} for its error_bodies")
            declared = _declared_success(key, answers, operation.get("responses", {}))
            operation["responses"] = _responses(answers, declared, komet=path.startswith("/api/"))
            operation["security"] = SECURITY[answers.security]
            operation["tags"] = [tag_of(path)]
            used.add(operation["tags"][0])
            if key in EXAMPLES:
                content = operation.get("requestBody", {}).get("content", {}).get("application/json")
                if content is None:
                    raise LookupError(f"{key} takes no JSON body; its EXAMPLES cannot be shown")
                content["examples"] = copy.deepcopy(EXAMPLES[key])
    described["tags"] = [{"name": name, "description": text} for name, text, _ in TAGS if name in used]
    return described


def _declared_success(key: str, answers: Answers, generated: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the route declared (``described``) for its success, if any. LookupError when the route
    declares a model under another success status than ``ANSWERS`` gives, so the two cannot disagree."""
    for status, response in generated.items():
        schema = (response.get("content") or {}).get("application/json", {}).get("schema") or {}
        if set(schema) <= {"title"} or not str(status).startswith("2"):
            continue  # an unannotated answer (``Response[Any]``): Powertools gives it a schema of nothing but a title
        if str(status) != str(answers.success):
            raise LookupError(f"{key} declares its model under {status}; ANSWERS says it answers {answers.success}")
        return dict(schema)
    return None


def _responses(answers: Answers, declared: dict[str, Any] | None, *, komet: bool) -> dict[str, Any]:
    success: dict[str, Any] = {"description": DESCRIPTIONS[answers.success]}
    if answers.media_type is not None:
        success["content"] = {
            media_type: {
                "schema": (declared or {"type": "object"}) if media_type == "application/json" else {"type": "string"}
            }
            for media_type in _media_types(answers.media_type)
        }
    error_schema = {"$ref": f"#/components/schemas/{'KometError' if komet else 'Error'}"}
    responses = {str(answers.success): success}
    # Any operation may meet an outside fault (503: DynamoDB throttled, a secret unreadable, the Intuit app not
    # configured; retry after a while) or, as a last resort, a fault of ours (500), both in the error shape.
    faults = FAULTS if answers.faults else ()
    own = dict(answers.error_bodies)
    for status in dict.fromkeys((*answers.errors, *faults)):
        schema: dict[str, Any] = copy.deepcopy(error_schema)
        if status in own:
            schema = {"anyOf": [schema, {"$ref": f"#/components/schemas/{own[status]}"}]}
        content = {
            media_type: {"schema": copy.deepcopy(schema) if media_type == "application/json" else {"type": "string"}}
            for media_type in _media_types(answers.error_media_type)
        }
        responses[str(status)] = {"description": DESCRIPTIONS[status], "content": content}
    return responses


def _media_types(declared: str | tuple[str, ...]) -> tuple[str, ...]:
    return (declared,) if isinstance(declared, str) else declared


# Swagger UI from the swagger-ui-bundle-v2 package, served by the service itself: the page needs no network but the
# API's own origin (its Content-Security-Policy allows nothing else). The assets are text: API Gateway passes them
# as they are (not base64, none of the BinaryMediaTypes).
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "ledgersync-docs.js": "text/javascript; charset=utf-8",
}
# Relative to /v1/docs (behind a stage prefix too): the document is /v1/openapi.json, the assets /v1/docs/<name>.
# The document names no server (its paths are the API's own); "Try it out" must call the API where this page is
# served, stage prefix included (https://<api>/<stage>/v1/docs -> https://<api>/<stage>), so the page adds that.
INITIALIZER = """fetch("openapi.json", {credentials: "same-origin"})
  .then(function (answer) { return answer.json(); })
  .then(function (spec) {
    var base = new URL("..", window.location.href).href.replace(/\\/$/, "");
    spec.servers = [{url: base, description: "This API, where this page is served"}];
    window.ui = SwaggerUIBundle({
      spec: spec,
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      displayRequestDuration: true,
      tryItOutEnabled: false
    });
  });
"""
SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ledgersync API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui.css?v={version}"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js?v={version}"></script>
<script src="docs/ledgersync-docs.js?v={version}"></script>
</body></html>
"""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_CACHE = "public, max-age=86400"  # the page asks for ?v=<swagger-ui version>: a new release is a new URL


def swagger_ui_version() -> str:
    return _swagger_ui_folder().name.removeprefix("swagger-ui-")


def swagger_page() -> Response[str]:
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}
    body = SWAGGER_PAGE.replace("{version}", swagger_ui_version())
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=body, headers=headers)


def swagger_asset(name: str) -> Response[str]:
    """One of the page's assets; NotFound (404, naming ``asset``) for any other name."""
    content_type = ASSETS.get(name)
    if content_type is None:
        raise NotFound(f"no docs asset {name[:100]!r}", [FieldError("asset", f"must be one of {', '.join(ASSETS)}")])
    body = INITIALIZER if name == "ledgersync-docs.js" else _asset_text(name)
    return Response(status_code=200, content_type=content_type, body=body, headers={"Cache-Control": _CACHE})


@functools.cache
def _asset_text(name: str) -> str:
    return (_swagger_ui_folder() / name).read_text(encoding="utf-8")


@functools.cache
def _swagger_ui_folder() -> Traversable:
    from swagger_ui_bundle import swagger_ui_path

    folder: Traversable = swagger_ui_path
    return folder
