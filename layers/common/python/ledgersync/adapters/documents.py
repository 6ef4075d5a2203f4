"""Vendor invoice PDFs in the private, encrypted documents bucket, and the links that hand them out.

A link is ``{PUBLIC_BASE_URL}/v1/documents/{token}``: the token carries the company, the document's key and an
expiry, signed with HMAC-SHA256. The link key is derived from the operator's admin API key secret, so nothing new
has to be provisioned, and a link does not depend on the Lambda role's session token (a SigV4 presigned URL dies
with it, long before six hours). ``GET /v1/documents/{token}`` checks the signature in constant time (403 when it
does not match), then the expiry (410), and streams the PDF from S3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledgersync.adapters.aws import client
from ledgersync.adapters.aws_errors import AwsResourceMissing, aws_call
from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.purchase_orders import PDF_LINK_SECONDS
from ledgersync.errors import FieldError, Forbidden, Gone, NotFound, RetryableError

LINK_KEY_CONTEXT = b"ledgersync/document-links/v1"


def derive_link_key(secret: str) -> bytes:
    """The links' HMAC key: a key of its own derived from ``secret`` (HMAC as a KDF), never the secret itself."""
    return hmac.new(secret.encode(), LINK_KEY_CONTEXT, hashlib.sha256).digest()


@dataclass(frozen=True)
class DocumentGrant:
    """What a valid link grants: one document of one company, until ``expires_at`` (epoch seconds)."""

    company_id: str
    key: str
    expires_at: int


class DocumentLinkSigner:
    def __init__(self, link_key: Callable[[], bytes], clock: Clock | None = None) -> None:
        self.link_key = link_key
        self.clock = clock or SystemClock()

    def token(self, key: str, expires_in: int = PDF_LINK_SECONDS) -> str:
        company_id = key.split("/", 1)[0]
        grant = DocumentGrant(company_id, key, int(self.clock.now().timestamp()) + expires_in)
        claims = json.dumps({"c": grant.company_id, "d": grant.key, "e": grant.expires_at}, separators=(",", ":"))
        return f"{_b64(claims.encode())}.{_b64(self._mac(grant))}"

    def verify(self, token: str) -> DocumentGrant:
        """The grant of ``token``; Forbidden when it was not signed by us or was altered, Gone once expired."""
        refused = Forbidden(
            "this document link is not valid: use the link exactly as it was sent",
            [FieldError("token", "the signature does not match")],
        )
        try:
            claims_part, mac_part = token.split(".")
            claims = json.loads(_unb64(claims_part))
            grant = DocumentGrant(str(claims["c"]), str(claims["d"]), int(claims["e"]))
            mac = _unb64(mac_part)
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            raise refused from err
        if not hmac.compare_digest(mac, self._mac(grant)) or not grant.key.startswith(f"{grant.company_id}/"):
            raise refused
        if self.clock.now().timestamp() >= grant.expires_at:
            raise Gone(
                "this document link has expired (links live six hours): ask for the document again",
                [FieldError("token", f"expired at {grant.expires_at} (epoch seconds)")],
            )
        return grant

    def _mac(self, grant: DocumentGrant) -> bytes:
        message = f"{grant.company_id}\n{grant.key}\n{grant.expires_at}".encode()
        return hmac.new(self.link_key(), message, hashlib.sha256).digest()


class S3Documents:
    def __init__(self, bucket: str, links: DocumentLinkSigner | None = None, base_url: str = "") -> None:
        self.bucket = bucket
        self.links = links
        self.base_url = base_url.rstrip("/")

    def put_pdf(self, company_id: str, po_id: int, name: str, data: bytes) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
        key = f"{company_id}/purchase-orders/{po_id}/{safe}.pdf"
        with aws_call(f"storing the invoice PDF in {self.bucket}", "check the bucket and the function's s3:PutObject"):
            client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/pdf", ServerSideEncryption="AES256"
            )
        return key

    def delete_pdf(self, key: str) -> None:
        """Remove a PDF no vendor invoice refers to any more. The bucket is versioned: this lays a delete marker, so
        every link to ``key`` answers 404 at once, and the noncurrent version expires with the bucket's lifecycle."""
        with aws_call("deleting the replaced invoice PDF", "try again"):
            client("s3").delete_object(Bucket=self.bucket, Key=key)

    def presigned_pdf_url(self, key: str, expires_in: int = PDF_LINK_SECONDS) -> str:
        """A link to the PDF valid ``expires_in`` seconds (seed 001: six hours), whatever credentials signed it."""
        if self.links is None:
            raise RetryableError("document links are not configured (no link key); try again")
        return f"{self.base_url}/v1/documents/{self.links.token(key, expires_in)}"

    def open_pdf(self, token: str) -> bytes:
        """The PDF a link points at, once its token checks out."""
        if self.links is None:
            raise RetryableError("document links are not configured (no link key); try again")
        grant = self.links.verify(token)
        try:
            with aws_call(f"reading the invoice PDF from {self.bucket}", "check the function's s3:GetObject"):
                body: Any = client("s3").get_object(Bucket=self.bucket, Key=grant.key)["Body"]
                data: bytes = body.read()
        except AwsResourceMissing as err:
            raise NotFound("the document is no longer stored") from err
        return data


class AdminKeyLinkKey:
    """The key that signs document links, derived from the admin API key (read through Powertools' parameters,
    cached five minutes: a rotated admin key invalidates the links handed out before it)."""

    def __init__(self, secret_name: str) -> None:
        self.secret_name = secret_name

    def __call__(self) -> bytes:
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = parameters.get_secret(self.secret_name, max_age=300)
        except GetParameterError as err:
            raise RetryableError(f"the document link key could not be read from {self.secret_name}; try again") from err
        return derive_link_key(value if isinstance(value, str) else value.decode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
