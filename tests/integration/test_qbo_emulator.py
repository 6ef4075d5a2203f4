"""The QuickBooks Online emulator over loopback HTTP: OAuth, v3 entities, faults, limits, schemas, failure injection."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from devstack.qbo_emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorState, RunningEmulator, serve
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

REALM = "4620816365000000001"
pytestmark = pytest.mark.integration


def xsd_dir() -> str:
    """QBO_XSD_DIR, else ../shared/schemas/qbo beside the repository, so tests always validate."""
    return os.environ.get("QBO_XSD_DIR") or str(Path(__file__).resolve().parents[3] / "shared" / "schemas" / "qbo")


def start(**limits: Any) -> RunningEmulator:
    return serve(state=EmulatorState(xsd_dir=xsd_dir(), **limits))


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = start()
    yield running
    running.shutdown()


class Company:
    """A connected company: a session with a live access token on one realm."""

    def __init__(self, emulator: RunningEmulator, realm: str = REALM) -> None:
        self.emulator = emulator
        self.realm = realm
        self.tokens = emulator.state.issue_tokens(realm)
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {self.tokens['access_token']}", "Accept": "application/json"}
        )

    def url(self, path: str) -> str:
        return f"{self.emulator.url}/v3/company/{self.realm}/{path}"

    def post(self, path: str, body: Any, **params: str) -> requests.Response:
        return self.session.post(self.url(path), json=body, params=params, timeout=10)

    def get(self, path: str, **params: str) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=10)

    def query(self, statement: str) -> dict[str, Any]:
        answer = self.get("query", query=statement)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()["QueryResponse"]
        return result

    def make(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.post(entity.lower(), body)
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()[entity]
        return record


@pytest.fixture
def company(emulator: RunningEmulator) -> Company:
    return Company(emulator)


def fault_code(answer: requests.Response) -> str:
    return str(answer.json()["Fault"]["Error"][0]["code"])


def bill(vendor_id: str, account_id: str, number: str = "PO-1-INV-1", **extra: Any) -> dict[str, Any]:
    return {
        "VendorRef": {"value": vendor_id},
        "DocNumber": number,
        "TxnDate": "2025-02-28",
        "Line": [
            {
                "Amount": 10.25,
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_id}},
            },
            {
                "DetailType": "AccountBasedExpenseLineDetail",
                "Amount": 5,
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_id}},
            },
        ],
        **extra,
    }


@pytest.fixture
def books(company: Company) -> dict[str, str]:
    account = company.make("Account", {"Name": "Freight", "AccountType": "Expense"})["Id"]
    return {
        "vendor": company.make("Vendor", {"DisplayName": "O'Brien Farms"})["Id"],
        "account": account,
        "item": company.make(
            "Item", {"Name": "Fresh Cut Flowers", "Type": "NonInventory", "ExpenseAccountRef": {"value": account}}
        )["Id"],
    }


# ---------------------------------------------------------------------------------------------- OAuth


def test_intuit_oauth_connects_through_the_discovery_url_and_refresh_rotates(emulator: RunningEmulator) -> None:
    client = AuthClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "http://localhost/callback", emulator.discovery_url)
    redirect = requests.get(
        client.get_authorization_url([Scopes.ACCOUNTING], state_token="s-1"), allow_redirects=False, timeout=10
    )
    params = parse_qs(urlsplit(redirect.headers["Location"]).query)
    client.get_bearer_token(params["code"][0], realm_id=params["realmId"][0])
    first_refresh = client.refresh_token

    client.refresh()

    assert redirect.status_code == 302 and params["state"] == ["s-1"]
    assert client.expires_in == 3600 and client.x_refresh_token_expires_in == 100 * 86400
    assert client.refresh_token != first_refresh
    with pytest.raises(AuthClientError):  # an authorization code works once
        client.get_bearer_token(params["code"][0], realm_id=params["realmId"][0])


def test_old_refresh_token_works_within_the_grace_period_then_dies(emulator: RunningEmulator) -> None:
    state = emulator.state
    first = state.issue_tokens(REALM)["refresh_token"]
    state.refresh(DEFAULT_CLIENT_ID, first)

    state.advance(3600)
    within_grace = state.refresh(DEFAULT_CLIENT_ID, first)
    state.advance(86400)
    answer = requests.post(
        f"{emulator.url}/oauth2/v1/tokens/bearer",
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": first},
        timeout=10,
    )

    assert within_grace["refresh_token"] != first
    assert (answer.status_code, answer.json()) == (400, {"error": "invalid_grant"})


def test_revoked_connection_answers_invalid_grant_and_401(emulator: RunningEmulator, company: Company) -> None:
    client = AuthClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        "http://localhost/cb",
        emulator.discovery_url,
        refresh_token=company.tokens["refresh_token"],
    )

    client.revoke()

    with pytest.raises(AuthClientError) as refused:
        client.refresh()
    assert refused.value.status_code == 400 and refused.value.response.json() == {"error": "invalid_grant"}
    assert company.get("vendor/1").status_code == 401


def test_token_endpoint_refuses_an_unknown_client(emulator: RunningEmulator) -> None:
    answer = requests.post(
        f"{emulator.url}/oauth2/v1/tokens/bearer",
        auth=("someone", "else"),
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        timeout=10,
    )

    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_expired_access_token_is_answered_401_with_fault_3200(emulator: RunningEmulator, company: Company) -> None:
    emulator.state.advance(3601)

    answer = company.get("query", query="SELECT * FROM Vendor")

    assert answer.status_code == 401
    assert answer.json()["fault"]["error"][0]["code"] == "3200"


# ---------------------------------------------------------------------------------------------- entities and queries


def test_query_matches_names_with_escaped_quotes_and_pages(company: Company, books: dict[str, str]) -> None:
    for n in range(5):
        company.make("Vendor", {"DisplayName": f"Grower {n}"})

    exact = company.query("SELECT * FROM Vendor WHERE DisplayName = 'O\\'Brien Farms'")
    page = company.query("select * from Vendor WHERE DisplayName LIKE 'Grower%' STARTPOSITION 2 MAXRESULTS 2")
    count = company.query("SELECT COUNT(*) FROM Vendor")

    assert [v["Id"] for v in exact["Vendor"]] == [books["vendor"]]
    assert [v["DisplayName"] for v in page["Vendor"]] == ["Grower 1", "Grower 2"]
    assert count == {"totalCount": 6}


def test_inactive_names_are_left_out_of_queries_unless_asked_for(company: Company) -> None:
    company.emulator.state.add_record(REALM, "Vendor", {"DisplayName": "Old Grower", "Active": False})

    default = company.query("SELECT * FROM Vendor WHERE DisplayName = 'Old Grower'")
    asked = company.query("SELECT * FROM Vendor WHERE DisplayName = 'Old Grower' AND Active = false")

    assert default == {}
    assert asked["Vendor"][0]["Active"] is False


def test_unparsable_query_is_fault_4000(company: Company) -> None:
    answer = company.get("query", query="SELECT * FROM Vendor WHERE")

    assert (answer.status_code, fault_code(answer)) == (400, "4000")


def test_sparse_update_keeps_other_fields_and_a_stale_sync_token_is_5010(company: Company) -> None:
    vendor = company.make("Vendor", {"DisplayName": "Rosa", "CompanyName": "Rosa SA"})

    updated = company.make("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    stale = company.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": True})

    assert (updated["SyncToken"], updated["CompanyName"], updated["Active"]) == ("1", "Rosa SA", False)
    assert (stale.status_code, fault_code(stale)) == (400, "5010")


def test_duplicate_name_across_vendors_and_customers_is_6240(company: Company) -> None:
    company.make("Customer", {"DisplayName": "Flores Inc"})

    answer = company.post("vendor", {"DisplayName": "flores inc"})

    assert (answer.status_code, fault_code(answer)) == (400, "6240")


def test_bill_total_is_computed_from_its_lines(company: Company, books: dict[str, str]) -> None:
    created = company.make("Bill", bill(books["vendor"], books["account"]))

    assert created["TotalAmt"] == 15.25
    assert created["VendorRef"] == {"value": books["vendor"], "name": "O'Brien Farms"}
    assert company.get(f"bill/{created['Id']}").json()["Bill"]["DocNumber"] == "PO-1-INV-1"


def test_bill_referring_to_an_inactive_vendor_or_a_missing_item_is_610(company: Company, books: dict[str, str]) -> None:
    company.make("Vendor", {"Id": books["vendor"], "SyncToken": "0", "sparse": True, "Active": False})
    with_item = bill(company.make("Vendor", {"DisplayName": "Active One"})["Id"], books["account"])
    with_item["Line"][0] = {
        "Amount": 3,
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "999"}},
    }

    inactive = company.post("bill", bill(books["vendor"], books["account"]))
    missing = company.post("bill", with_item)

    assert (inactive.status_code, fault_code(inactive)) == (400, "610")
    assert (missing.status_code, fault_code(missing)) == (400, "610")


def test_duplicate_doc_number_is_6140_for_the_same_vendor_only(company: Company, books: dict[str, str]) -> None:
    other = company.make("Vendor", {"DisplayName": "Another Grower"})["Id"]
    company.make("Bill", bill(books["vendor"], books["account"]))

    same_vendor = company.post("bill", bill(books["vendor"], books["account"]))
    other_vendor = company.post("bill", bill(other, books["account"]))

    assert (same_vendor.status_code, fault_code(same_vendor)) == (400, "6140")
    assert "TxnId=" in same_vendor.json()["Fault"]["Error"][0]["Detail"]
    assert other_vendor.status_code == 200


def test_foreign_currency_bill_must_match_the_vendor_currency(company: Company, books: dict[str, str]) -> None:
    euro = company.make("Vendor", {"DisplayName": "Holland Bulbs", "CurrencyRef": {"value": "EUR"}})["Id"]

    accepted = company.post("bill", bill(euro, books["account"], CurrencyRef={"value": "EUR"}))
    refused = company.post("bill", bill(euro, books["account"], number="X-2"))

    assert accepted.status_code == 200
    assert (refused.status_code, fault_code(refused)) == (400, "6000")
    detail = refused.json()["Fault"]["Error"][0]["Detail"]
    assert "Transactions can have only one foreign currency at a time" in detail
    assert "(transaction USD, vendor 'Holland Bulbs' EUR)" in detail


def test_vendors_and_accounts_carry_their_currency_the_home_one_unless_given(
    company: Company, books: dict[str, str]
) -> None:
    euro = company.make("Vendor", {"DisplayName": "Holland Bulbs", "CurrencyRef": {"value": "EUR"}})

    (home,) = company.query("SELECT * FROM Vendor WHERE DisplayName = 'O\\'Brien Farms'")["Vendor"]
    (freight,) = company.query("SELECT * FROM Account WHERE Name = 'Freight'")["Account"]
    assert euro["CurrencyRef"] == {"value": "EUR"}
    assert home["CurrencyRef"] == {"value": "USD"}
    assert freight["CurrencyRef"] == {"value": "USD"}


def test_a_foreign_bill_keeps_its_rate_and_its_ap_account_must_be_payable_in_its_currency(
    company: Company, books: dict[str, str]
) -> None:
    # Given a CAD vendor, an A/P account in CAD and the home A/P account
    cad = company.make("Vendor", {"DisplayName": "Maple Growers", "CurrencyRef": {"value": "CAD"}})["Id"]
    ap_cad = company.make(
        "Account",
        {"Name": "Accounts Payable - CAD", "AccountType": "Accounts Payable", "CurrencyRef": {"value": "CAD"}},
    )["Id"]
    ap_usd = company.make("Account", {"Name": "Accounts Payable", "AccountType": "Accounts Payable"})["Id"]
    foreign = {"CurrencyRef": {"value": "CAD"}, "ExchangeRate": 0.73}

    # When bills are posted on each
    made = company.make("Bill", bill(cad, books["account"], APAccountRef={"value": ap_cad}, **foreign))
    on_usd = company.post("bill", bill(cad, books["account"], "X-2", APAccountRef={"value": ap_usd}, **foreign))
    on_expense = company.post(
        "bill", bill(cad, books["account"], "X-3", APAccountRef={"value": books["account"]}, **foreign)
    )
    home_with_rate = company.post("bill", bill(books["vendor"], books["account"], "X-4", ExchangeRate=1.2))

    # Then only the CAD one is taken, with its rate and its home total
    assert made["APAccountRef"] == {"value": ap_cad, "name": "Accounts Payable - CAD"}
    assert made["ExchangeRate"] == 0.73 and made["HomeBalance"] == 11.13
    assert (on_usd.status_code, fault_code(on_usd)) == (400, "6000")
    assert "The transaction needs to be in the same currency as the A/R and A/P accounts you use" in on_usd.text
    assert (on_expense.status_code, fault_code(on_expense)) == (400, "6000")
    assert "Accounts Payable" in on_expense.text
    assert (home_with_rate.status_code, fault_code(home_with_rate)) == (400, "6000")


# ---------------------------------------------------------------------------------------------- schemas


def test_entity_with_an_unknown_property_is_refused_as_intuit_does(company: Company, books: dict[str, str]) -> None:
    answer = company.post("bill", bill(books["vendor"], books["account"], Surprise=1))

    assert (answer.status_code, fault_code(answer)) == (400, "2010")
    assert "Surprise" in answer.json()["Fault"]["Error"][0]["Detail"]


def test_entity_with_a_malformed_value_is_refused_by_the_schema(company: Company, books: dict[str, str]) -> None:
    bad_date = company.post("bill", bill(books["vendor"], books["account"], TxnDate="2025-13-40"))
    bad_detail = company.post(
        "bill", {**bill(books["vendor"], books["account"]), "Line": [{"Amount": 1, "DetailType": "NoSuchLineDetail"}]}
    )

    assert (bad_date.status_code, fault_code(bad_date)) == (400, "6000")
    assert bad_detail.status_code == 400


def test_schema_accepts_json_keys_in_any_order(company: Company, books: dict[str, str]) -> None:
    body = bill(books["vendor"], books["account"], PrivateNote="memo", CurrencyRef={"value": "USD"})
    reversed_body = dict(reversed(list(body.items())))

    assert company.post("bill", reversed_body).status_code == 200


def test_schema_file_is_required_when_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        EmulatorState(xsd_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- requestid and batch


def test_repeated_requestid_replays_the_first_answer_without_a_second_bill(
    company: Company, books: dict[str, str]
) -> None:
    first = company.post("bill", bill(books["vendor"], books["account"]), requestid="r-1", minorversion="75")
    again = company.post("bill", bill(books["vendor"], books["account"]), requestid="r-1", minorversion="75")

    assert first.status_code == again.status_code == 200
    assert first.json()["Bill"]["Id"] == again.json()["Bill"]["Id"]
    assert len(company.emulator.state.records(REALM, "Bill")) == 1


def test_requestid_longer_than_fifty_characters_is_refused(company: Company) -> None:
    answer = company.post("vendor", {"DisplayName": "X"}, requestid="r" * 51)

    assert answer.status_code == 400


def test_batch_answers_each_item_with_its_entity_query_or_fault(company: Company, books: dict[str, str]) -> None:
    answer = company.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "1", "operation": "create", "Vendor": {"DisplayName": "Batch Grower"}},
                {"bId": "2", "Query": "SELECT * FROM Account WHERE Name = 'Freight'"},
                {"bId": "3", "operation": "create", "Vendor": {"DisplayName": "O'Brien Farms"}},
            ]
        },
    )

    items = {item["bId"]: item for item in answer.json()["BatchItemResponse"]}
    assert items["1"]["Vendor"]["DisplayName"] == "Batch Grower"
    assert items["2"]["QueryResponse"]["Account"][0]["Id"] == books["account"]
    assert items["3"]["Fault"]["Error"][0]["code"] == "6240"


def test_batch_of_more_than_thirty_operations_is_refused(company: Company) -> None:
    ops = [{"bId": str(n), "Query": "SELECT * FROM Vendor"} for n in range(31)]

    assert company.post("batch", {"BatchItemRequest": ops[:30]}).status_code == 200
    assert company.post("batch", {"BatchItemRequest": ops}).status_code == 400


def test_invalid_minorversion_is_refused(company: Company) -> None:
    assert company.post("vendor", {"DisplayName": "Y"}, minorversion="abc").status_code == 400


# ---------------------------------------------------------------------------------------------- limits and failures


def test_requests_over_the_per_minute_limit_are_throttled_with_429() -> None:
    with start(requests_per_minute=5) as running:
        company = Company(running)
        codes = [company.get("query", query="SELECT * FROM Vendor").status_code for _ in range(7)]
        other = Company(running, realm="other-realm").get("query", query="SELECT * FROM Vendor").status_code

    assert codes == [200] * 5 + [429, 429]
    assert other == 200


def test_throttling_comes_as_xml_when_switched_on() -> None:
    with start(requests_per_minute=0) as running:
        running.state.throttle_xml = True
        answer = Company(running).get("query", query="SELECT * FROM Vendor")

    assert answer.status_code == 429
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert 'code="3001"' in answer.text


def test_requests_over_the_in_flight_limit_are_throttled_with_429() -> None:
    with start(max_in_flight=1) as running:
        company = Company(running)
        requests.post(
            f"{running.url}/__emulator/failures",
            timeout=10,
            json={"status": 0, "afterCommit": True, "delaySeconds": 1.0, "operation": "write"},
        )
        slow = threading.Thread(target=company.post, args=("vendor", {"DisplayName": "Slow"}))
        slow.start()
        while running.state.stats(REALM)["inFlight"] == 0:
            threading.Event().wait(0.01)
        second = company.get("query", query="SELECT * FROM Vendor")
        slow.join()

    assert second.status_code == 429
    assert [v["DisplayName"] for v in running.state.records(REALM, "Vendor")] == ["Slow"]


def test_injected_failures_answer_their_status_count_times_then_clear(
    emulator: RunningEmulator, company: Company
) -> None:
    injected = requests.post(
        f"{emulator.url}/__emulator/failures",
        timeout=10,
        json={"realmId": REALM, "status": 503, "count": 2, "retryAfter": 3},
    )

    answers = [company.post("vendor", {"DisplayName": "Third Time"}) for _ in range(3)]

    assert injected.status_code == 201
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert len(emulator.state.records(REALM, "Vendor")) == 1


def test_after_commit_failure_keeps_the_bill_but_answers_an_error(
    emulator: RunningEmulator, company: Company, books: dict[str, str]
) -> None:
    requests.post(f"{emulator.url}/__emulator/failures", json={"status": 500, "afterCommit": True}, timeout=10)

    answer = company.post("bill", bill(books["vendor"], books["account"]), requestid="lost-1")
    replay = company.post("bill", bill(books["vendor"], books["account"]), requestid="lost-1")

    assert answer.status_code == 500
    assert replay.status_code == 200
    assert len(emulator.state.records(REALM, "Bill")) == 1


def test_injected_fault_code_comes_in_intuits_shape(emulator: RunningEmulator, company: Company) -> None:
    requests.post(f"{emulator.url}/__emulator/failures", json={"fault": "610"}, timeout=10)

    answer = company.post("vendor", {"DisplayName": "Z"})

    assert (answer.status_code, fault_code(answer)) == (400, "610")
    assert answer.json()["Fault"]["type"] == "ValidationFault"


def test_control_routes_add_and_list_records_for_set_up(emulator: RunningEmulator) -> None:
    added = requests.post(f"{emulator.url}/__emulator/{REALM}/item", json={"Name": "Roses"}, timeout=10)
    listed = requests.get(f"{emulator.url}/__emulator/{REALM}/item", timeout=10)

    assert added.status_code == 201
    assert [i["Name"] for i in listed.json()["Item"]] == ["Roses"]
    assert listed.json()["Item"][0]["Active"] is True
