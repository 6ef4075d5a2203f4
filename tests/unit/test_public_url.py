"""One public-URL rule: the .qwc AppURL and the WSDL's soap:address agree wherever the API is reached."""

from __future__ import annotations

from typing import Any

import pytest
from devstack import lambda_proxy
from devstack.runtime import LambdaContext
from functions.qbwc import app as qbwc_app
from lxml import etree

from ledgersync.public_url import WEB_CONNECTOR_PATH, public_base_url, public_url
from tests.support.events import Api
from tests.support.services import InstallServices

EXECUTE_API = "abc123defg.execute-api.eu-west-1.amazonaws.com"
SOAP = {"soap": "http://schemas.xmlsoap.org/wsdl/soap/"}


def qwc_app_url(api: Api, host: str) -> str:
    answer = api.get("/v1/accounting/quickbooks-desktop/qwc", headers={"Host": host, "X-Forwarded-Proto": "https"})
    assert answer.status == 200, answer.text
    url = etree.fromstring(answer.text.encode()).findtext("AppURL")
    assert url
    return url


def wsdl_address(host: str, stage: str = "test") -> str:
    headers = {"Host": host, "X-Forwarded-Proto": "https"}
    event = lambda_proxy.proxy_event("GET", WEB_CONNECTOR_PATH, "wsdl", headers, None, stage=stage)
    answer = qbwc_app.lambda_handler(event, LambdaContext())
    assert answer["statusCode"] == 200, answer
    address = etree.fromstring(answer["body"].encode()).find(".//soap:address", SOAP)
    assert address is not None
    return str(address.get("location"))


def test_qwc_app_url_and_wsdl_address_agree_when_behind_a_custom_domain(api: Api, company: dict[str, Any]) -> None:
    # Given the stack reached by its custom domain, whose base path mapping hides the stage
    # When the .qwc file is downloaded and the Web Connector reads the WSDL
    app_url, address = qwc_app_url(api, "ledger.example.com"), wsdl_address("ledger.example.com")
    # Then both name the custom domain's root, with no stage in the path
    assert app_url == address == "https://ledger.example.com/qbwc"


def test_qwc_app_url_and_wsdl_address_agree_when_behind_the_execute_api_url(api: Api, company: dict[str, Any]) -> None:
    app_url, address = qwc_app_url(api, EXECUTE_API), wsdl_address(EXECUTE_API)
    assert app_url == address == f"https://{EXECUTE_API}/test/qbwc"


def test_qwc_app_url_and_wsdl_address_agree_when_public_base_url_is_set(
    api: Api, company: dict[str, Any], monkeypatch: pytest.MonkeyPatch, install_services: InstallServices
) -> None:
    # Given PUBLIC_BASE_URL (the template sets it from ApiDomainName), while a call arrives by the execute-api host
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ledger.example.com/")
    install_services()  # the settings of this instance, read again
    app_url, address = qwc_app_url(api, EXECUTE_API), wsdl_address(EXECUTE_API)
    assert app_url == address == "https://ledger.example.com/qbwc"


def test_public_url_is_http_only_for_a_local_host_without_a_forwarded_scheme() -> None:
    assert public_url("/qbwc", "", {"Host": "127.0.0.1:3000"}, "local") == "http://127.0.0.1:3000/qbwc"
    assert public_url("/qbwc", "", {"host": "ledger.example.com"}, "Prod") == "https://ledger.example.com/qbwc"
    assert public_url("/x", "", {"X-Forwarded-Host": "ledger.example.com", "Host": EXECUTE_API}, "Prod") == (
        "https://ledger.example.com/x"
    )


def test_public_base_url_is_the_configured_one_without_its_trailing_slash_when_no_request() -> None:
    assert public_base_url("https://ledger.example.com/") == "https://ledger.example.com"
    assert public_base_url("") == ""
