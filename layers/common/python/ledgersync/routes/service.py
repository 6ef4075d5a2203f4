"""Routes: health and the API's own description (OpenAPI 3 and a Swagger UI page)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ledgersync import bootstrap

router = Router()


@router.get("/v1/health", summary="200 once the service can reach its table")
def health() -> dict[str, Any]:
    bootstrap.table().get("HEALTH", "HEALTH", consistent=False)
    return {"status": "ok"}


def openapi_document(app: Any) -> dict[str, Any]:
    schema = app.get_openapi_schema(title="Ledgersync API", version="1.0.0")
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document


SWAGGER_PAGE = """<!doctype html><html><head><title>Ledgersync API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div><script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#ui"});</script></body></html>"""


def swagger_page() -> Response[str]:
    return Response(status_code=200, content_type="text/html", body=SWAGGER_PAGE)
