"""The .qwc download: the company's file for the QuickBooks Web Connector (seed 000)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from tests.support.events import Api


def test_qwc_downloads_with_the_company_user_name_and_the_soap_url(api: Api, company: dict[str, Any]) -> None:
    answer = api.get("/v1/accounting/quickbooks-desktop/qwc", headers={"Host": "api.example.com"})
    assert answer.status == 200
    assert "ledgersync.qwc" in answer.headers["Content-Disposition"]
    doc = etree.fromstring(answer.text.encode())
    assert doc.findtext("UserName") == company["companyId"]
    assert doc.findtext("AppURL") == "https://api.example.com/qbwc"  # a custom domain: no stage in the path
    assert doc.findtext("QBType") == "QBFS"
    again = etree.fromstring(
        api.get("/v1/accounting/quickbooks-desktop/qwc", headers={"Host": "api.example.com"}).text.encode()
    )
    assert again.findtext("FileID") == doc.findtext("FileID")


def test_qwc_is_for_admins_only(api: Api, company: dict[str, Any]) -> None:
    sales = api.post("/v1/users", {"name": "S", "email": "s@example.com", "roles": ["Sales"]}).json()["token"]
    assert api.get("/v1/accounting/quickbooks-desktop/qwc", token=sales).status == 403
