"""Vendor invoice PDFs in the private, encrypted documents bucket; links are SigV4 presigned URLs."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ledgersync.adapters.aws import client
from ledgersync.domain.purchase_orders import PDF_LINK_SECONDS
from ledgersync.errors import RetryableError
from ledgersync.observability import logger


class S3Documents:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put_pdf(self, company_id: str, po_id: int, name: str, data: bytes) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
        key = f"{company_id}/purchase-orders/{po_id}/{safe}.pdf"
        try:
            client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/pdf", ServerSideEncryption="AES256"
            )
        except (ClientError, BotoCoreError) as err:
            logger.warning("invoice PDF not stored", extra={"bucket": self.bucket, "error": str(err)})
            raise RetryableError("the invoice PDF could not be stored; try again") from err
        return key

    def presigned_pdf_url(self, key: str, expires_in: int = PDF_LINK_SECONDS) -> str:
        """A GET link signed with SigV4 that S3 honours for exactly ``expires_in`` seconds (seed 001: six hours)."""
        try:
            url: str = _sigv4_client().generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": "application/pdf"},
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as err:
            raise RetryableError("the invoice PDF link could not be signed; try again") from err
        return url


@lru_cache(maxsize=1)
def _sigv4_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))
