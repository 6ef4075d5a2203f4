"""The management API: companies, users, tokens, the directory, Komet list methods, accounting settings.

Its resolver also carries every other function's routers, so that the OpenAPI document and the Swagger UI it
serves describe the whole API; API Gateway sends those other routes to their own functions.
"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from ledgersync.api import json_response, make_api
from ledgersync.routes import (
    accounting,
    accounts,
    directory,
    documents,
    invoices,
    process_log,
    purchase_orders,
    service,
)

app, lambda_handler = make_api(
    service.router,
    accounts.router,
    directory.router,
    accounting.router,
    invoices.router,
    purchase_orders.router,
    documents.router,
    process_log.router,
)


@app.get(
    "/v1/openapi.json",
    summary="This API described as OpenAPI 3",
    responses=service.described(service.OpenAPIDocument),
)
def openapi_json() -> Response[Any]:
    return json_response(200, service.openapi_document(app))


@app.get("/v1/docs", summary="This API's documentation page (Swagger UI, served with its assets)")
def swagger_ui() -> Response[str]:
    return service.swagger_page()


@app.get("/v1/docs/<asset>", summary="An asset of the documentation page (Swagger UI's script and style sheet)")
def swagger_ui_asset(asset: Annotated[str, Path()]) -> Response[str]:
    return service.swagger_asset(asset)
