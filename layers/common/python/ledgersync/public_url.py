"""This deployment's public address: the one rule every link the service hands out is built by.

The `.qwc` AppURL, the WSDL's ``soap:address``, the QuickBooks Online redirect, the webhook e-mail's resend link
and the PDF links all point back at the API. ``PUBLIC_BASE_URL`` wins when it is set (the template sets it to
``https://<ApiDomainName>`` when the stack has a custom domain). Without it the address is the one the request
came by: its host, its scheme (``X-Forwarded-Proto``, else http only for a local host), and the stage in the
path only on API Gateway's own ``execute-api`` host: a custom domain maps the stage onto its root.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
WEB_CONNECTOR_PATH = "/qbwc"  # the SOAP endpoint: the .qwc AppURL and the WSDL's soap:address both name it


def public_base_url(configured: str, headers: Mapping[str, str] | None = None, stage: str | None = None) -> str:
    """The base URL (no trailing slash): ``configured`` when set, else the one the request's headers name; empty
    when neither is known (the links are then relative to the API)."""
    if configured.strip():
        return configured.strip().rstrip("/")
    if headers is None:
        return ""
    lower = {k.lower(): v for k, v in headers.items()}
    host = (lower.get("x-forwarded-host") or lower.get("host") or "localhost").split(",")[0].strip()
    hostname = urlsplit(f"//{host}").hostname or ""
    scheme = (lower.get("x-forwarded-proto") or "").split(",")[0].strip() or (
        "http" if hostname in LOCAL_HOSTS else "https"
    )
    prefix = f"/{stage}" if stage and is_execute_api_host(hostname) else ""
    return f"{scheme}://{host}{prefix}"


def public_url(path: str, configured: str, headers: Mapping[str, str] | None = None, stage: str | None = None) -> str:
    """The public URL of the API route ``path`` (which starts with ``/``)."""
    return public_base_url(configured, headers, stage) + path


def is_execute_api_host(hostname: str) -> bool:
    """API Gateway's default endpoint (``<id>.execute-api.<region>.amazonaws.com[.cn]``), whose paths start with the
    stage; a custom domain's do not."""
    name = hostname.lower()
    return ".execute-api." in name and (name.endswith(".amazonaws.com") or name.endswith(".amazonaws.com.cn"))
