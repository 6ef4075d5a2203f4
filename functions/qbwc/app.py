"""The QuickBooks Web Connector endpoint: SOAP calls on POST /qbwc, the WSDL on GET /qbwc?wsdl."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import bootstrap
from ledgersync.adapters import soap
from ledgersync.domain.desktop_sync import WebConnectorService
from ledgersync.errors import LedgersyncError
from ledgersync.observability import logger, metrics, tracer
from ledgersync.public_url import WEB_CONNECTOR_PATH, public_url

app = APIGatewayRestResolver()


def web_connector() -> WebConnectorService:
    """The use case, built once per instance by the composition root."""
    return bootstrap.services().web_connector


@app.get("/qbwc")
def describe() -> Response[str]:
    event = app.current_event
    query = {k.lower() for k in (event.query_string_parameters or {})}
    if "wsdl" in query:
        location = public_url(
            WEB_CONNECTOR_PATH,
            bootstrap.services().settings.public_base_url,
            dict(event.headers or {}),
            event.request_context.stage,
        )
        return Response(200, "text/xml; charset=utf-8", soap.wsdl(location))
    return Response(200, "text/html; charset=utf-8", soap.SUPPORT_PAGE)


@app.post("/qbwc")
def call() -> Response[str]:
    try:
        request = soap.parse_call(app.current_event.decoded_body or "")
    except soap.SoapRequestError as err:
        logger.warning("unreadable Web Connector call", extra={"reason": err.message})
        return Response(500, soap.CONTENT_TYPES[soap.SOAP11_NS], soap.fault(err.message))
    logger.thread_safe_append_keys(qbwc_method=request.method)  # this request's lines only (see keys_per_record)
    try:
        result = soap.dispatch(web_connector(), request)
    except LedgersyncError as err:
        logger.warning("Web Connector call failed", extra={"error": err.code, "reason": err.message})
        body = soap.fault(f"Ledgersync could not answer: {err.message}", False, request.envelope_ns)
        return Response(500, request.content_type, body)
    finally:
        logger.thread_safe_remove_keys(["qbwc_method"])
    if request.method == "receiveResponseXML":
        logger.info("Web Connector progress", extra={"progress": result, "qbwc_method": request.method})
    return Response(200, request.content_type, soap.response(request, result))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
