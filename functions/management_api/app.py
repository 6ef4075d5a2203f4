"""The management API: companies, users, tokens, the directory, Komet list methods, accounting settings."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync.api import build_resolver, resolve
from ledgersync.observability import logger, metrics, tracer
from ledgersync.routes import accounting, accounts, directory

app = build_resolver()
app.include_router(accounts.router)
app.include_router(directory.router)
app.include_router(accounting.router)
app.enable_swagger(path="/v1/docs", title="Ledgersync API", version="1.0.0")


@app.get("/v1/health", summary="200 once the service can reach its table", include_in_schema=True)
def health() -> dict[str, Any]:
    from ledgersync import bootstrap

    bootstrap.table().get("HEALTH", "HEALTH", consistent=False)
    return {"status": "ok"}


@app.get("/v1/openapi.json", summary="This API described as OpenAPI 3")
def openapi_document() -> Any:
    from ledgersync.api import json_response

    return json_response(200, app.get_openapi_schema(title="Ledgersync API", version="1.0.0").model_dump(
        mode="json", by_alias=True, exclude_none=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
