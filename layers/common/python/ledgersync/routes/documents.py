"""Routes: the vendor invoice PDF behind a signed, six-hour link (webhook payloads and PO reads hand them out)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from ledgersync import bootstrap

router = Router()
Token = Annotated[str, Path(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]


@router.get(
    "/v1/documents/<token>",
    summary="A vendor invoice PDF by its signed link (403 when altered, 410 after six hours)",
    responses={200: {"description": "the PDF", "content": {"application/pdf": {}}}},
)
# No return annotation on purpose: Powertools validates an annotated return value with its JSON encoder, which
# turns the PDF's bytes into text (and fails on any byte that is not UTF-8); unannotated, the bytes reach API
# Gateway base64-encoded as they are.
def get_document(token: Token):  # type: ignore[no-untyped-def]
    data = bootstrap.services().documents.open_pdf(token)
    return Response(
        status_code=200,
        content_type="application/pdf",
        body=data,
        headers={"Cache-Control": "private, no-store", "Content-Disposition": "inline"},
    )
