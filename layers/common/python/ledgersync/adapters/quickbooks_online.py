"""QuickBooks Online: OAuth (intuit-oauth), the v3 REST client, the bill gateway, and the AWS-backed ports.

Every HTTP or SDK failure leaves this module as ``RetryableError`` (throttling, timeouts, 5xx), ``PermanentError``
(a refusal a person must fix, worded so they can), ``AccessTokenRejected`` (401: refresh once and retry) or
``ReauthorizationRequired`` (``invalid_grant``). QuickBooks JSON exists only here.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import requests
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities import parameters
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from lxml import etree

from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.lease import DynamoLease
from ledgersync.adapters.secrets import SecretsManagerJsonStore
from ledgersync.clock import Clock, SystemClock
from ledgersync.config import Settings
from ledgersync.domain.purchase_orders import BillDraft, BillLineKind
from ledgersync.domain.quickbooks_online import (
    DOC_NUMBER_MAX,
    AccessTokenRejected,
    BillRecord,
    DedupEntry,
    DedupState,
    DuplicateDocumentNumber,
    QuickBooksAccess,
    TokenSet,
)
from ledgersync.errors import (
    Conflict,
    LedgersyncError,
    NotConfigured,
    PermanentError,
    ReauthorizationRequired,
    RetryableError,
)
from ledgersync.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

API_BASE_URLS = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
    "production": "https://quickbooks.api.intuit.com",
    "prod": "https://quickbooks.api.intuit.com",
}
MINOR_VERSION = 75
BATCH_LIMIT = 30
PRIVATE_NOTE_MAX = 4000
DESCRIPTION_MAX = 4000
NAME_FIELDS = {"Vendor": "DisplayName", "Item": "Name", "Account": "Name", "Class": "Name"}
KIND_WORDS = {"Vendor": "vendor", "Item": "item", "Account": "account", "Class": "class"}


# ---------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultError:
    """One ``Error`` of a QuickBooks ``Fault`` body (JSON, lower-case JSON or XML)."""

    code: str
    message: str
    detail: str
    element: str = ""


class QuickBooksFault(PermanentError):
    """QuickBooks refused a request for a reason retrying will not change (validation, references, names)."""

    def __init__(self, message: str, errors: list[FaultError], status: int) -> None:
        super().__init__(message)
        self.errors = errors
        self.status = status

    @property
    def fault_code(self) -> str:
        """Intuit's error code (610, 6240, ...); ``code`` stays the service's own error code."""
        return self.errors[0].code if self.errors else str(self.status)

    @property
    def detail(self) -> str:
        return self.errors[0].detail if self.errors else ""


class StaleObjectError(RetryableError):
    """Fault 5010: someone changed the entity since it was read; read it again, then write."""


def parse_faults(response: requests.Response) -> list[FaultError]:
    """The errors of a Fault body, whichever of Intuit's shapes it comes in; empty when there are none."""
    text = response.text.strip()
    if text.startswith("<"):
        return _xml_faults(text)
    try:
        body = response.json()
    except ValueError:
        return []
    return json_faults(body) if isinstance(body, dict) else []


def json_faults(body: dict[str, Any]) -> list[FaultError]:
    """Errors of a JSON ``Fault`` (or the 401 gateway's lower-case ``fault``) object or of a body holding one."""
    fault = body.get("Fault") or body.get("fault") or (body if "Error" in body or "error" in body else None)
    if not isinstance(fault, dict):
        return []
    errors = fault.get("Error") or fault.get("error") or []
    return [
        FaultError(
            code=str(e.get("code", "")),
            message=str(e.get("Message") or e.get("message") or ""),
            detail=str(e.get("Detail") or e.get("detail") or ""),
            element=str(e.get("element") or ""),
        )
        for e in errors
        if isinstance(e, dict)
    ]


def _xml_faults(text: str) -> list[FaultError]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode(), parser=parser)
    except etree.XMLSyntaxError:
        return []
    found = []
    for error in root.iter("{*}Error"):
        message, detail = error.find("{*}Message"), error.find("{*}Detail")
        found.append(
            FaultError(
                code=error.get("code", ""),
                message=(message.text or "") if message is not None else "",
                detail=(detail.text or "") if detail is not None else "",
            )
        )
    return found


def retry_after_seconds(response: requests.Response, default: float) -> float:
    """``Retry-After`` as seconds (either form HTTP allows), or ``default``."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return default


def translate_response(response: requests.Response) -> LedgersyncError:
    """The domain error for a QuickBooks answer that is not 200."""
    status = response.status_code
    errors = parse_faults(response)
    first = errors[0] if errors else FaultError("", "", "")
    if status == 401 or first.code == "3200":
        return AccessTokenRejected(
            "QuickBooks Online refused the access token (401, fault 3200); it is refreshed and the request sent again."
        )
    if status == 403:
        return PermanentError(
            "QuickBooks Online refused access (403). The person who connected Ledgersync must be "
            "a QuickBooks admin on a subscription that allows apps; reconnect as an admin, then "
            "send again."
        )
    if status == 429 or first.code == "3001":
        return RetryableError(
            "QuickBooks Online is throttling requests for this company (429 ThrottleExceeded); "
            "the request waits and is sent again.",
            retry_after_seconds=retry_after_seconds(response, 60.0),
        )
    if status >= 500:
        return RetryableError(
            f"QuickBooks Online had a server error ({status}{' ' + first.code if first.code else ''})"
            "; the request is sent again shortly.",
            retry_after_seconds=retry_after_seconds(response, 30.0),
        )
    if first.code == "5010":
        return StaleObjectError(
            "QuickBooks Online says the record changed since it was read (5010); it is read "
            "again before the next write."
        )
    if not errors:
        return PermanentError(
            f"QuickBooks Online refused the request (HTTP {status}) without saying why; check the "
            f"record in QuickBooks, then send again."
        )
    return QuickBooksFault(
        f"QuickBooks refused the request: {first.detail or first.message} ({first.code}). "
        f"Correct it in QuickBooks or in Ledgersync, then send again.",
        errors,
        status,
    )


# ---------------------------------------------------------------------------------------------- limits


class RequestLimiter(Protocol):
    """Keeps one company's calls under QuickBooks' limits (requests per minute, requests in flight)."""

    def slot(self, realm_id: str) -> AbstractContextManager[None]: ...


class InProcessRequestLimiter:
    """A token bucket (``requests_per_minute``, burst ``max_in_flight``) and a semaphore per realm, in one process.

    With a burst of b, any 60 seconds see at most ``requests_per_minute + b`` calls: 454 for the defaults,
    under QuickBooks' 500. Waits longer than ``max_wait_seconds`` become a RetryableError.
    """

    def __init__(
        self,
        requests_per_minute: int = 450,
        max_in_flight: int = 4,
        max_wait_seconds: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.rate = requests_per_minute / 60.0
        self.burst = float(max(1, max_in_flight))
        self.max_in_flight = max_in_flight
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, realm_id: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.setdefault(realm_id, threading.BoundedSemaphore(self.max_in_flight))
        if not semaphore.acquire(timeout=self.max_wait_seconds):
            raise RetryableError(
                "Too many QuickBooks requests for this company are in flight; try again shortly.",
                retry_after_seconds=1.0,
            )
        try:
            self._take_token(realm_id, self.clock.monotonic() + self.max_wait_seconds)
            yield
        finally:
            semaphore.release()

    def _take_token(self, realm_id: str, deadline: float) -> None:
        while True:
            with self._lock:
                now = self.clock.monotonic()
                tokens, updated = self._buckets.get(realm_id, (self.burst, now))
                tokens = min(self.burst, tokens + (now - updated) * self.rate)
                if tokens >= 1.0 - 1e-9:  # float dust must not leave a caller sleeping for nothing, forever
                    self._buckets[realm_id] = (max(0.0, tokens - 1.0), now)
                    return
                self._buckets[realm_id] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if now + wait > deadline:
                raise RetryableError(
                    "This company's QuickBooks request budget is used up for now; try again shortly.",
                    retry_after_seconds=wait,
                )
            self.clock.sleep(wait)


class DynamoRequestLimiter:
    """The same limits shared by every Lambda instance, in the single table.

    Rate: a counter per realm and 5-second window (``RATE#<window>``), incremented only while under
    ``requests_per_minute * 5 / 60``; any 60 seconds overlap at most 13 windows (481 calls for 450/minute).
    In flight: ``max_in_flight`` lease items (``SLOT#<n>``) taken with a condition and released after the call;
    a lease left by a crashed instance expires after ``lease_seconds``.
    """

    WINDOW_SECONDS = 5

    def __init__(
        self,
        table: SingleTable,
        requests_per_minute: int = 450,
        max_in_flight: int = 4,
        *,
        lease_seconds: int = 60,
        max_wait_seconds: float = 20.0,
        clock: Clock | None = None,
    ) -> None:
        self.table = table
        self.per_window = max(1, requests_per_minute * self.WINDOW_SECONDS // 60)
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock or SystemClock()
        self.leases = DynamoLease(table, self.clock)

    @staticmethod
    def pk(realm_id: str) -> str:
        return f"QBO#REALM#{realm_id}"

    def _epoch(self) -> float:
        """Wall time in seconds: windows and lease expiries are shared by every instance, so not monotonic."""
        return self.clock.now().timestamp()

    @contextmanager
    def slot(self, realm_id: str) -> Iterator[None]:
        deadline = self._epoch() + self.max_wait_seconds
        owner = uuid.uuid4().hex
        number = self._acquire_slot(realm_id, owner, deadline)
        try:
            self._take_rate(realm_id, deadline)
            yield
        finally:
            try:
                released = self.leases.release(self.pk(realm_id), f"SLOT#{number}", owner)
            except RetryableError:
                released = False
            if not released:  # expired and taken, or DynamoDB busy: it expires by itself
                logger.warning("QuickBooks slot lease was already gone", extra={"realm_id": realm_id})

    def _acquire_slot(self, realm_id: str, owner: str, deadline: float) -> int:
        while True:
            now = self._epoch()
            for number in random.sample(range(self.max_in_flight), self.max_in_flight):
                if self.leases.acquire(self.pk(realm_id), f"SLOT#{number}", owner, self.lease_seconds):
                    return number
            if now >= deadline:
                raise RetryableError(
                    "Too many QuickBooks requests for this company are in flight; try again shortly.",
                    retry_after_seconds=1.0,
                )
            self.clock.sleep(random.uniform(0.05, 0.2))  # noqa: S311 - jitter, not security

    def _take_rate(self, realm_id: str, deadline: float) -> None:
        while True:
            now = self._epoch()
            window = int(now // self.WINDOW_SECONDS)
            try:
                self.table.update(
                    self.pk(realm_id),
                    f"RATE#{window}",
                    "ADD #n :one SET expiresAt = :exp",
                    names={"#n": "count"},
                    values={":one": 1, ":limit": self.per_window, ":exp": int(now) + 120},
                    condition="attribute_not_exists(#n) OR #n < :limit",
                )
            except Conflict:
                next_window = (window + 1) * self.WINDOW_SECONDS
                if next_window > deadline:
                    raise RetryableError(
                        "This company's QuickBooks request budget is used up for now; try again shortly.",
                        retry_after_seconds=next_window - now,
                    ) from None
                self.clock.sleep(next_window - now + random.uniform(0, 0.05))  # noqa: S311 - jitter
                continue
            return


# ---------------------------------------------------------------------------------------------- HTTP client


class QuickBooksOnlineClient:
    """The v3 REST API over requests: timeouts, minorversion, the per-company limiter, faults translated."""

    def __init__(
        self,
        base_url: str,
        limiter: RequestLimiter,
        session: requests.Session | None = None,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        minor_version: int = MINOR_VERSION,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.session = session or requests.Session()
        self.timeout = (connect_timeout, read_timeout)
        self.minor_version = minor_version
        self.calls = 0

    def read(self, access: QuickBooksAccess, entity: str, entity_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._send(access, "GET", f"{entity.lower()}/{entity_id}")[entity]
        return answer

    def create(
        self, access: QuickBooksAccess, entity: str, body: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        """Create (or, with Id and SyncToken, update) one entity; ``request_id`` makes a retry replay, not repeat."""
        answer: dict[str, Any] = self._send(access, "POST", entity.lower(), body=body, request_id=request_id)[entity]
        return answer

    def query(self, access: QuickBooksAccess, statement: str) -> dict[str, Any]:
        """The ``QueryResponse`` of one query."""
        answer: dict[str, Any] = self._send(access, "GET", "query", params={"query": statement}).get(
            "QueryResponse", {}
        )
        return answer

    def batch(
        self, access: QuickBooksAccess, items: list[dict[str, Any]], request_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Up to 30 operations in one call; each answer carries its ``bId`` and an entity, QueryResponse or Fault."""
        if len(items) > BATCH_LIMIT:
            raise ValueError(f"a QuickBooks batch holds at most {BATCH_LIMIT} operations")
        answer: list[dict[str, Any]] = self._send(
            access, "POST", "batch", body={"BatchItemRequest": items}, request_id=request_id
        ).get("BatchItemResponse", [])
        return answer

    def _send(
        self,
        access: QuickBooksAccess,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/v3/company/{access.realm_id}/{path}"
        query = {"minorversion": str(self.minor_version), **(params or {})}
        if request_id:
            query["requestid"] = request_id
        headers = {"Authorization": f"Bearer {access.access_token}", "Accept": "application/json"}
        with self.limiter.slot(access.realm_id):
            self.calls += 1
            try:
                response = self.session.request(
                    method, url, params=query, json=body, headers=headers, timeout=self.timeout
                )
            except requests.Timeout as timeout:
                raise RetryableError(
                    f"QuickBooks Online did not answer within {self.timeout[1]:g} seconds; the "
                    "request is checked and sent again.",
                    retry_after_seconds=30.0,
                ) from timeout
            except requests.RequestException as failure:
                raise RetryableError(
                    f"QuickBooks Online could not be reached ({type(failure).__name__}); the "
                    "request is sent again shortly.",
                    retry_after_seconds=30.0,
                ) from failure
        if response.status_code != 200:
            raise translate_response(response)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as unreadable:
            raise RetryableError(
                "QuickBooks Online answered with something that is not JSON; the request is sent again shortly."
            ) from unreadable
        return answer


# ---------------------------------------------------------------------------------------------- reference ids


class ReferenceIdCache(Protocol):
    """QuickBooks ids of names already looked up (vendors, items, accounts, classes), per realm.

    This is the VendorIdCache the bill needs: the vendor found by Display Name is kept, so the next bill of
    that vendor makes no query. Items, accounts and classes are kept the same way.
    """

    def get(self, realm_id: str, kind: str, name: str) -> str | None: ...

    def put(self, realm_id: str, kind: str, name: str, entity_id: str) -> None: ...

    def forget(self, realm_id: str, kind: str, name: str) -> None: ...


class InMemoryReferenceIdCache:
    """A process-local ReferenceIdCache (tests, the bench, and the front of the DynamoDB one)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str], str] = {}

    def get(self, realm_id: str, kind: str, name: str) -> str | None:
        return self.ids.get((realm_id, kind, name))

    def put(self, realm_id: str, kind: str, name: str, entity_id: str) -> None:
        self.ids[(realm_id, kind, name)] = entity_id

    def forget(self, realm_id: str, kind: str, name: str) -> None:
        self.ids.pop((realm_id, kind, name), None)


class DynamoReferenceIdCache:
    """ReferenceIdCache in the single table (``QBO#REALM#<realm>`` / ``REF#<kind>#<name>``), memoized per instance."""

    def __init__(self, table: SingleTable) -> None:
        self.table = table
        self.memory = InMemoryReferenceIdCache()

    def get(self, realm_id: str, kind: str, name: str) -> str | None:
        known = self.memory.get(realm_id, kind, name)
        if known is not None:
            return known
        item = self.table.get(DynamoRequestLimiter.pk(realm_id), f"REF#{kind}#{name}", consistent=False)
        if item is None:
            return None
        self.memory.put(realm_id, kind, name, str(item["entityId"]))
        return str(item["entityId"])

    def put(self, realm_id: str, kind: str, name: str, entity_id: str) -> None:
        self.table.put(
            {
                "pk": DynamoRequestLimiter.pk(realm_id),
                "sk": f"REF#{kind}#{name}",
                "entityId": entity_id,
                "kind": kind,
                "name": name,
            }
        )
        self.memory.put(realm_id, kind, name, entity_id)

    def forget(self, realm_id: str, kind: str, name: str) -> None:
        self.table.delete(DynamoRequestLimiter.pk(realm_id), f"REF#{kind}#{name}")
        self.memory.forget(realm_id, kind, name)


# ---------------------------------------------------------------------------------------------- the gateway


def quote(value: str) -> str:
    """A value inside a QuickBooks query's single quotes (``'`` becomes ``\\'``)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _money(amount: Decimal) -> float:
    # Amounts have at most 14 digits, which a float represents and prints back exactly (shortest repr).
    return float(amount)


RefKey = tuple[str, str]


def bill_refs(draft: BillDraft) -> list[RefKey]:
    """Every (entity, name) a draft's bill refers to, vendor first, without repeats."""
    keys: list[RefKey] = [("Vendor", draft.vendor_name)]
    for line in draft.lines:
        keys.append(("Item" if line.kind is BillLineKind.ITEM else "Account", line.ref_name))
        if line.class_name:
            keys.append(("Class", line.class_name))
    return list(dict.fromkeys(keys))


def bill_payload(draft: BillDraft, ids: dict[RefKey, str]) -> dict[str, Any]:
    """The QuickBooks Bill for a draft, given the ids of the names it refers to."""
    lines: list[dict[str, Any]] = []
    for line in draft.lines:
        if line.kind is BillLineKind.ITEM:
            detail_type = "ItemBasedExpenseLineDetail"
            detail: dict[str, Any] = {
                "ItemRef": {"value": ids[("Item", line.ref_name)], "name": line.ref_name},
                "Qty": 1,
                "UnitPrice": _money(line.amount),
            }
        else:
            detail_type = "AccountBasedExpenseLineDetail"
            detail = {"AccountRef": {"value": ids[("Account", line.ref_name)], "name": line.ref_name}}
        if line.class_name:
            detail["ClassRef"] = {"value": ids[("Class", line.class_name)], "name": line.class_name}
        entry: dict[str, Any] = {"DetailType": detail_type, "Amount": _money(line.amount), detail_type: detail}
        if line.description:
            entry["Description"] = line.description[:DESCRIPTION_MAX]
        lines.append(entry)
    body: dict[str, Any] = {
        "VendorRef": {"value": ids[("Vendor", draft.vendor_name)], "name": draft.vendor_name},
        "TxnDate": draft.txn_date.isoformat(),
        "DocNumber": draft.reference(DOC_NUMBER_MAX),
        "PrivateNote": draft.memo[:PRIVATE_NOTE_MAX],
        "Line": lines,
    }
    if draft.currency:
        body["CurrencyRef"] = {"value": draft.currency}
    return body


def _bill_record(bill: dict[str, Any]) -> BillRecord:
    return BillRecord(
        id=str(bill["Id"]),
        doc_number=bill.get("DocNumber"),
        vendor_id=str((bill.get("VendorRef") or {}).get("value") or "") or None,
        private_note=bill.get("PrivateNote"),
    )


def _name_query(kind: str, name: str, active: bool | None = True) -> str:
    statement = f"SELECT * FROM {kind} WHERE {NAME_FIELDS[kind]} = '{quote(name)}'"  # noqa: S608 - quoted
    return statement if active is None or active else statement + " AND Active = false"


def _id_query(kind: str, entity_id: str) -> str:
    return f"SELECT * FROM {kind} WHERE Id = '{quote(entity_id)}' AND Active IN (true, false)"  # noqa: S608 - quoted


class QuickBooksOnlineGateway:
    """Bills in QuickBooks Online, with names resolved to ids once and remembered."""

    def __init__(self, client: QuickBooksOnlineClient, ids: ReferenceIdCache) -> None:
        self.client = client
        self.ids = ids

    def create_bill(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> BillRecord:
        """Create the draft's bill (one call when every name is already known)."""
        ids = self.resolve(access, bill_refs(draft))
        try:
            bill = self.client.create(access, "Bill", bill_payload(draft, ids), request_id=request_id)
        except QuickBooksFault as refused:
            raise self._explain_refusal(access, draft, ids, refused) from refused
        return _bill_record(bill)

    def find_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[BillRecord]:
        """Bills of the draft's vendor numbered like the draft."""
        vendor_id = self.resolve(access, [("Vendor", draft.vendor_name)])[("Vendor", draft.vendor_name)]
        statement = f"SELECT * FROM Bill WHERE DocNumber = '{quote(draft.reference(DOC_NUMBER_MAX))}'"  # noqa: S608
        rows = self.client.query(access, statement).get("Bill", [])
        return [record for record in map(_bill_record, rows) if record.vendor_id == vendor_id]

    def resolve(self, access: QuickBooksAccess, keys: Iterable[RefKey]) -> dict[RefKey, str]:
        """Ids for (entity, name) pairs: from the cache, else one query (or one batch of queries) for the rest."""
        found: dict[RefKey, str] = {}
        missing: list[RefKey] = []
        for kind, name in keys:
            known = self.ids.get(access.realm_id, kind, name)
            if known is None:
                missing.append((kind, name))
            else:
                found[(kind, name)] = known
        for start in range(0, len(missing), BATCH_LIMIT):
            chunk = missing[start : start + BATCH_LIMIT]
            for key, rows in zip(chunk, self._lookup(access, chunk), strict=True):
                exact = [row for row in rows if row.get(NAME_FIELDS[key[0]]) == key[1]]
                if not exact:
                    raise self._unresolved(access, key, rows)
                found[key] = str(exact[0]["Id"])
                self.ids.put(access.realm_id, key[0], key[1], found[key])
        return found

    def _lookup(self, access: QuickBooksAccess, keys: list[RefKey]) -> list[list[dict[str, Any]]]:
        if len(keys) == 1:
            kind, name = keys[0]
            return [self.client.query(access, _name_query(kind, name)).get(kind, [])]
        answers = self.client.batch(
            access, [{"bId": str(i), "Query": _name_query(kind, name)} for i, (kind, name) in enumerate(keys)]
        )
        by_id = {str(answer.get("bId")): answer for answer in answers}
        results: list[list[dict[str, Any]]] = []
        for i, (kind, _) in enumerate(keys):
            answer = by_id.get(str(i), {})
            if "Fault" in answer:
                errors = json_faults({"Fault": answer["Fault"]})
                raise QuickBooksFault(f"QuickBooks refused a lookup: {errors[0].detail if errors else ''}", errors, 400)
            results.append(answer.get("QueryResponse", {}).get(kind, []))
        return results

    def _unresolved(self, access: QuickBooksAccess, key: RefKey, near: list[dict[str, Any]]) -> PermanentError:
        kind, name = key
        word = KIND_WORDS[kind]
        if near:
            other = near[0].get(NAME_FIELDS[kind])
            return PermanentError(
                f"QuickBooks refused the bill: the {word} in QuickBooks is named '{other}', not "
                f"'{name}'; the names must match exactly, including capitals. Correct one of them, "
                f"then send again."
            )
        if self.client.query(access, _name_query(kind, name, active=False)).get(kind):
            return PermanentError(
                f"QuickBooks refused the bill: the {word} '{name}' is inactive (610). Reactivate "
                f"it in QuickBooks, then send again."
            )
        advice = {
            "Vendor": "The vendor's Accounting Name in Ledgersync must be exactly its Display Name in QuickBooks; "
            "correct one of them, then send again.",
            "Item": f"Create the item '{name}' in QuickBooks (Sales > Products and services) or choose another "
            "bill item in Ledgersync's QuickBooks settings, then send again.",
            "Account": f"Create the account '{name}' in QuickBooks' chart of accounts or map the charge to an "
            "existing account in Ledgersync's QuickBooks settings, then send again.",
            "Class": f"Create the class '{name}' in QuickBooks (with class tracking on) or change the class "
            "mapping in Ledgersync's QuickBooks settings, then send again.",
        }[kind]
        return PermanentError(f"QuickBooks refused the bill: there is no {word} named '{name}' in QuickBooks. {advice}")

    def _explain_refusal(
        self, access: QuickBooksAccess, draft: BillDraft, ids: dict[RefKey, str], refused: QuickBooksFault
    ) -> LedgersyncError:
        if refused.fault_code == "6140":
            number = draft.reference(DOC_NUMBER_MAX)
            return DuplicateDocumentNumber(
                f"QuickBooks already has a bill numbered {number} for vendor '{draft.vendor_name}' (6140).", number
            )
        if refused.fault_code == "610":
            return self._inactive_reference(access, ids, refused)
        return PermanentError(
            f"QuickBooks refused the bill {draft.reference(DOC_NUMBER_MAX)}: "
            f"{refused.detail or refused.message} ({refused.fault_code}). Correct it in QuickBooks "
            f"or in Ledgersync's QuickBooks settings, then send again."
        )

    def _inactive_reference(
        self, access: QuickBooksAccess, ids: dict[RefKey, str], refused: QuickBooksFault
    ) -> LedgersyncError:
        """Find which remembered id QuickBooks no longer accepts, forget it, and name it."""
        keys = list(ids)
        answers = self.client.batch(
            access,
            [{"bId": str(i), "Query": _id_query(kind, ids[(kind, name)])} for i, (kind, name) in enumerate(keys)],
        )
        by_id = {str(answer.get("bId")): answer for answer in answers}
        for i, (kind, name) in enumerate(keys):
            rows = by_id.get(str(i), {}).get("QueryResponse", {}).get(kind, [])
            if not rows or not rows[0].get("Active", True):
                self.ids.forget(access.realm_id, kind, name)
                state = "inactive" if rows else "deleted"
                return PermanentError(
                    f"QuickBooks refused the bill: the {KIND_WORDS[kind]} '{name}' is {state} "
                    f"(610). Reactivate it in QuickBooks, then send again."
                )
        return PermanentError(
            f"QuickBooks refused the bill: {refused.detail} (610). Check that its vendor, items, "
            "accounts and classes are active in QuickBooks, then send again."
        )


# ---------------------------------------------------------------------------------------------- OAuth


class TimedAuthClient(AuthClient):  # type: ignore[misc]
    """intuit-oauth's client with a timeout on every request it makes (it sets none)."""

    timeout = 10.0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class IntuitOAuth:
    """Intuit OAuth 2.0 through intuit-oauth's AuthClient; ``environment`` is sandbox, production or a discovery URL."""

    def __init__(
        self, client_id: str, client_secret: str, redirect_uri: str, environment: str, clock: Clock | None = None
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.environment = environment
        self.clock = clock or SystemClock()

    def _client(self, **tokens: Any) -> Any:
        try:
            return TimedAuthClient(self.client_id, self.client_secret, self.redirect_uri, self.environment, **tokens)
        except (AuthClientError, requests.RequestException, ValueError) as failure:
            raise RetryableError("Intuit's OAuth discovery document could not be read; try again shortly.") from failure

    def authorization_url(self, state: str) -> str:
        """Where to send a person to connect a company (accounting scope); ``state`` comes back on the redirect."""
        url: str = self._client().get_authorization_url([Scopes.ACCOUNTING], state_token=state)
        return url

    def exchange_code(self, code: str, realm_id: str) -> TokenSet:
        """Trade the redirect's authorization code for the company's first tokens."""
        client = self._client()
        self._call(lambda: client.get_bearer_token(code, realm_id=realm_id))
        return self._tokens(client, realm_id)

    def refresh(self, realm_id: str, refresh_token: str) -> TokenSet:
        """New tokens for a refresh token (which rotates: store the returned one)."""
        client = self._client(refresh_token=refresh_token, realm_id=realm_id)
        self._call(lambda: client.refresh(refresh_token=refresh_token))
        return self._tokens(client, realm_id)

    def revoke(self, token: str) -> None:
        """Disconnect: revoke a refresh (or access) token."""
        client = self._client()
        self._call(lambda: client.revoke(token=token))

    def _tokens(self, client: Any, realm_id: str) -> TokenSet:
        now = self.clock.now()
        return TokenSet(
            realm_id=realm_id,
            access_token=client.access_token,
            refresh_token=client.refresh_token,
            access_expires_at=now + timedelta(seconds=int(client.expires_in or 3600)),
            refresh_expires_at=now + timedelta(seconds=int(client.x_refresh_token_expires_in or 0)),
            refreshed_at=now,
        )

    @staticmethod
    def _call(call: Callable[[], Any]) -> None:
        try:
            call()
        except AuthClientError as failure:
            raise _oauth_error(failure.status_code, failure.response) from failure
        except requests.RequestException as failure:
            raise RetryableError(
                f"Intuit's OAuth service could not be reached ({type(failure).__name__}); try again shortly."
            ) from failure


def _oauth_error(status: int, response: requests.Response) -> LedgersyncError:
    try:
        error = str(response.json().get("error", ""))
    except ValueError:
        error = ""
    if error == "invalid_grant":
        return ReauthorizationRequired(
            "Intuit refused the stored QuickBooks authorization (invalid_grant): it was "
            "revoked, expired or replaced. Reconnect QuickBooks Online in Settings > "
            "Integrations > QuickBooks."
        )
    if error == "invalid_client" or status == 401:
        return PermanentError(
            "Intuit refused Ledgersync's app credentials (invalid_client). Check the client id and "
            "secret in the QuickBooks app secret, then try again."
        )
    if status == 429 or status >= 500:
        return RetryableError(
            f"Intuit's OAuth service answered {status}; try again shortly.",
            retry_after_seconds=retry_after_seconds(response, 30.0),
        )
    return PermanentError(f"Intuit's OAuth service refused the request ({status} {error or 'no reason given'}).")


# ---------------------------------------------------------------------------------------------- AWS ports


class SecretsManagerTokenStore:
    """One secret per company, ``<prefix>/qbo/<companyId>``, holding its TokenSet as JSON (encrypted at rest)."""

    def __init__(self, prefix: str, client: SecretsManagerClient | None = None) -> None:
        self.secrets = SecretsManagerJsonStore(f"{prefix.rstrip('/')}/qbo", "the QuickBooks tokens of company", client)

    def load(self, company_id: str) -> TokenSet | None:
        """The company's tokens, or None when it never connected."""
        value = self.secrets.load(company_id)
        return None if value is None else TokenSet.model_validate(value)

    def save(self, company_id: str, tokens: TokenSet) -> None:
        """Store the tokens as the secret's current version (creating the secret on first connection)."""
        self.secrets.save(
            company_id, tokens.model_dump(mode="json"), f"QuickBooks Online tokens of company {company_id}"
        )


class DynamoLock:
    """A lease ``COMPANY#<cid>`` / ``LOCK#<name>`` (``DynamoLease``); expired leases can be taken over."""

    def __init__(self, table: SingleTable, clock: Clock | None = None) -> None:
        self.lease = DynamoLease(table, clock)

    def acquire(self, company_id: str, name: str, ttl_seconds: int) -> str | None:
        owner = uuid.uuid4().hex
        return owner if self.lease.acquire(company_pk(company_id), f"LOCK#{name}", owner, ttl_seconds) else None

    def release(self, company_id: str, name: str, owner: str) -> None:
        if not self.lease.release(company_pk(company_id), f"LOCK#{name}", owner):
            logger.warning("lock was taken over before release", extra={"company_id": company_id, "lock": name})


class DynamoDedupStore:
    """Dedup entries ``COMPANY#<cid>`` / ``DEDUP#qbo#<key>``; every write is conditional."""

    TARGET = "qbo"

    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def _sk(self, key: str) -> str:
        return f"DEDUP#{self.TARGET}#{key}"

    @staticmethod
    def _item(entry: DedupEntry) -> dict[str, Any]:
        item: dict[str, Any] = {
            "state": entry.state.value,
            "attempt": entry.attempt,
            "startedAt": entry.started_at.isoformat(),
            "reference": entry.reference,
        }
        if entry.result_id:
            item["resultId"] = entry.result_id
        return item

    @staticmethod
    def _entry(item: dict[str, Any]) -> DedupEntry:
        return DedupEntry(
            state=DedupState(item["state"]),
            attempt=int(item["attempt"]),
            started_at=datetime.fromisoformat(str(item["startedAt"])),
            reference=str(item["reference"]),
            result_id=item.get("resultId"),
        )

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        pk, sk = f"COMPANY#{company_id}", self._sk(key)
        try:
            self.table.put({"pk": pk, "sk": sk, **self._item(entry)}, condition="attribute_not_exists(pk)")
        except Conflict:
            existing = self.table.get(pk, sk)
            if existing is None:
                raise RetryableError("The dedup record changed while it was read; try again.") from None
            return self._entry(existing)
        return None

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        try:
            self.table.put(
                {"pk": f"COMPANY#{company_id}", "sk": self._sk(key), **self._item(new)},
                condition="#s = :s AND attempt = :a AND startedAt = :t",
                names={"#s": "state"},
                values={":s": expected.state.value, ":a": expected.attempt, ":t": expected.started_at.isoformat()},
            )
        except Conflict:
            return False
        return True

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None:
        self.table.update(
            f"COMPANY#{company_id}",
            self._sk(key),
            "SET #s = :s, resultId = :r, attempt = :a",
            names={"#s": "state"},
            values={":s": DedupState.COMPLETED.value, ":r": result_id, ":a": attempt},
        )


class PowertoolsTokenMetrics:
    """EMF metrics RefreshTokenDaysLeft and TokenRefreshFailed with the one ``service`` dimension the alarms watch.

    Which company is concerned goes to the log line beside each data point: a CompanyId dimension would make one
    custom metric per company (each billed, none alarmed on).
    """

    def refresh_token_days_left(self, company_id: str, days: float) -> None:
        logger.info("QuickBooks refresh token days left", extra={"company_id": company_id, "days_left": days})
        self._emit("RefreshTokenDaysLeft", days)

    def token_refresh_failed(self, company_id: str, reason: str) -> None:
        logger.warning("QuickBooks token refresh failed", extra={"company_id": company_id, "reason": reason})
        self._emit("TokenRefreshFailed", 1)

    @staticmethod
    def _emit(name: str, value: float) -> None:
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="service", value=SERVICE)


SERVICE = "ledgersync"


# ---------------------------------------------------------------------------------------------- factories


def api_base_url(settings: Settings) -> str:
    """QBO_API_BASE_URL, else Intuit's host for the environment, else the discovery URL's origin (the emulator)."""
    if settings.qbo_api_base_url:
        return settings.qbo_api_base_url.rstrip("/")
    known = API_BASE_URLS.get(settings.qbo_environment.lower())
    if known:
        return known
    parts = urlsplit(settings.qbo_environment)
    return f"{parts.scheme}://{parts.netloc}"


class IntuitAppNotConfigured(NotConfigured):
    """The Intuit app's credentials were never put in their secret (or still hold a placeholder).

    A 503 for the connect route and a retry (never a failed document) for queued work: it passes once the
    operator stores the credentials.
    """

    code = "IntuitAppNotConfigured"

    def __init__(self, secret: str, problem: str) -> None:
        super().__init__(
            f"The Intuit app is not configured: the secret {secret} {problem}. The operator must store the app's "
            f"credentials: aws secretsmanager put-secret-value --secret-id {secret} --secret-string "
            """'{"clientId": "...", "clientSecret": "..."}' (see docs/deploy.md)."""
        )


_PLACEHOLDER = ("REPLACE", "CHANGE_ME", "PLACEHOLDER", "<", "...")


def app_credentials(settings: Settings) -> tuple[str, str]:
    """The Intuit app's client id and secret from the QBO_APP_SECRET secret ({"clientId", "clientSecret"})."""
    name = settings.qbo_app_secret
    try:
        value = parameters.get_secret(name, transform="json", max_age=300)
    except parameters.exceptions.TransformParameterError as err:
        raise IntuitAppNotConfigured(name, "does not hold JSON") from err
    except parameters.exceptions.GetParameterError as err:
        if "ResourceNotFoundException" in str(err):  # created without a value, as the template does
            raise IntuitAppNotConfigured(name, "has no value yet") from err
        raise RetryableError(f"Secrets Manager could not read {name} ({err}); try again shortly.") from err
    if not isinstance(value, dict):
        raise IntuitAppNotConfigured(name, "must hold a JSON object")
    for key in ("clientId", "clientSecret"):
        text = str(value.get(key) or "").strip()
        if not text:
            raise IntuitAppNotConfigured(name, f"has no {key}")
        if any(marker in text.upper() for marker in _PLACEHOLDER):
            raise IntuitAppNotConfigured(name, f"still holds a placeholder {key}")
    return str(value["clientId"]).strip(), str(value["clientSecret"]).strip()


class IntuitOAuthApp:
    """The one Intuit OAuth adapter: the app's credentials read from Secrets Manager on each use (Powertools caches
    them five minutes), so building it reads no secret and calls no one, and an app not configured yet answers
    ``IntuitAppNotConfigured`` (held, not failed) whether a person connects or the refresher runs.

    The redirect URI is the configured one, else the one of the authorization in progress (it must match between
    authorize and exchange)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def _oauth(self, redirect_uri: str = "") -> IntuitOAuth:
        client_id, client_secret = app_credentials(self.settings)
        return IntuitOAuth(
            client_id,
            client_secret,
            self.settings.qbo_redirect_uri or redirect_uri,
            self.settings.qbo_environment,
            self.clock,
        )

    def authorization_url(self, state: str, redirect_uri: str) -> str:
        return self._oauth(redirect_uri).authorization_url(state)

    def exchange_code(self, code: str, realm_id: str, redirect_uri: str) -> TokenSet:
        return self._oauth(redirect_uri).exchange_code(code, realm_id)

    def refresh(self, realm_id: str, refresh_token: str) -> TokenSet:
        return self._oauth().refresh(realm_id, refresh_token)

    def revoke(self, token: str) -> None:
        self._oauth().revoke(token)
