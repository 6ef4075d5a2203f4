"""A minimal API Gateway REST proxy event (payload format 1.0), for calling a Lambda handler in process."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl


def proxy_event(
    method: str, path: str, query: str, headers: dict[str, str], body: str | None, *, stage: str
) -> dict[str, Any]:
    """The event API Gateway builds for a Lambda proxy integration, one value per header and query parameter."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": params or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": stage,
            "path": path,
            "httpMethod": method,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
