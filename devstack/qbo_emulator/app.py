"""The emulator's HTTP face: Intuit OAuth 2.0 (discovery, authorize, token, revoke), the v3 REST API, and
``/__emulator`` routes that tests use to set up records and inject failures."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request

from devstack.qbo_emulator.books import ENTITIES, entity_name
from devstack.qbo_emulator.faults import Fault, timestamp
from devstack.qbo_emulator.state import EmulatorState, FailureRule, InvalidGrant

BATCH_LIMIT = 30
REQUEST_ID_MAX = 50

Outcome = tuple[int, dict[str, Any]]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


def _oauth_error(status: int, error: str, description: str = "") -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return _json(status, body)


def create_app(state: EmulatorState | None = None) -> Flask:
    """The emulator as a Flask app over ``state`` (a fresh one with default limits when not given)."""
    state = state or EmulatorState()
    app = Flask("qbo_emulator")
    app.config["EMULATOR_STATE"] = state
    app.url_map.strict_slashes = False
    _oauth_routes(app, state)
    _api_routes(app, state)
    _control_routes(app, state)
    return app


# ---------------------------------------------------------------------------------------------- OAuth


def _oauth_routes(app: Flask, state: EmulatorState) -> None:
    @app.get("/.well-known/openid_configuration")
    @app.get("/.well-known/openid_sandbox_configuration")
    def discovery() -> Response:
        base = request.host_url.rstrip("/")
        return _json(
            200,
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/connect/oauth2",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
                "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
                "jwks_uri": f"{base}/oauth2/v1/keys",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": [
                    "openid",
                    "email",
                    "profile",
                    "address",
                    "phone",
                    "com.intuit.quickbooks.accounting",
                ],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
            },
        )

    @app.get("/oauth2/v1/keys")
    def keys() -> Response:
        return _json(200, {"keys": []})

    @app.get("/connect/oauth2")
    def authorize() -> Response:
        args = request.args
        client_id, redirect_uri = args.get("client_id", ""), args.get("redirect_uri", "")
        if client_id not in state.clients or not redirect_uri:
            return _oauth_error(400, "invalid_request", "unknown client_id or missing redirect_uri")
        if args.get("response_type") != "code":
            return _oauth_error(400, "unsupported_response_type")
        code = state.authorization_code(client_id, redirect_uri, args.get("realm_id"))
        query = {"code": code, "state": args.get("state", ""), "realmId": args.get("realm_id") or state.approve_realm}
        separator = "&" if "?" in redirect_uri else "?"
        return cast(Response, redirect(redirect_uri + separator + urlencode(query), code=302))

    def client() -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (client_id, secret) if state.client_ok(client_id, secret) else None

    @app.post("/oauth2/v1/tokens/bearer")
    def token() -> Response:
        caller = client()
        if caller is None:
            return _oauth_error(401, "invalid_client")
        form = request.form
        try:
            if form.get("grant_type") == "authorization_code":
                answer = state.exchange_code(caller[0], form.get("code", ""), form.get("redirect_uri", ""))
            elif form.get("grant_type") == "refresh_token":
                answer = state.refresh(caller[0], form.get("refresh_token", ""))
            else:
                return _oauth_error(400, "unsupported_grant_type")
        except InvalidGrant:
            return _oauth_error(400, "invalid_grant")
        answer.pop("realmId", None)
        return _json(200, answer)

    @app.post("/oauth2/v1/tokens/revoke")
    def revoke() -> Response:
        if client() is None:
            return _oauth_error(401, "invalid_client")
        body = request.get_json(silent=True) or {}
        token_value = body.get("token") or request.form.get("token")
        if not token_value:
            return _oauth_error(400, "invalid_request", "token is required")
        state.revoke(str(token_value))
        return Response(status=200)

    @app.get("/v1/openid_connect/userinfo")
    def userinfo() -> Response:
        return _json(200, {"sub": "emulated-user", "email": "user@example.com", "emailVerified": True})


# ---------------------------------------------------------------------------------------------- v3 API


def _render_fault(fault: Fault, xml: bool = False, retry_after: int | None = None) -> Response:
    status, body, content_type = fault.render(xml)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Response(body, status=status, content_type=content_type, headers=headers)


def _api_call(state: EmulatorState, realm_id: str, write: bool, handler: Callable[[], Outcome]) -> Response:
    """Authentication, limits, requestid replay and injected failures around one v3 request."""
    bearer = request.headers.get("Authorization", "")
    if not bearer.startswith("Bearer ") or not state.access_ok(bearer[7:], realm_id):
        return _render_fault(Fault("3200", element=bearer[7:19] + "..."))
    with state.admit(realm_id) as admitted:
        if not admitted:
            return _render_fault(Fault("3001"), xml=state.throttle_xml)
        request_id = request.args.get("requestid")
        realm = state.realm(realm_id)
        if request_id:
            if len(request_id) > REQUEST_ID_MAX:
                return _render_fault(
                    Fault("2050", element="requestid", detail=f"requestid is longer than {REQUEST_ID_MAX} characters")
                )
            with state.lock:
                cached = realm.responses.get(request_id)
            if cached is not None:
                status, body, content_type = cached
                return Response(body, status=status, content_type=content_type)
        before = state.take_failure(realm_id, write, after_commit=False)
        if before is not None:
            time.sleep(before.delay_seconds)
            return _render_fault(Fault.for_status(before.status, before.fault), before.xml, before.retry_after)
        with state.lock:
            replay = realm.responses.get(request_id) if request_id else None
            if replay is not None:  # the same requestid arrived twice at once: the second waits and replays
                return Response(replay[1], status=replay[0], content_type=replay[2])
            try:
                status, answer = handler()
                rendered = (status, json.dumps(answer), "application/json")
            except Fault as fault:
                rendered = fault.render()
            if request_id and write:
                realm.responses[request_id] = rendered
        after = state.take_failure(realm_id, write, after_commit=True) if rendered[0] == 200 else None
        if after is not None:
            time.sleep(after.delay_seconds)
            if after.status:
                return _render_fault(Fault.for_status(after.status, after.fault), after.xml, after.retry_after)
        return Response(rendered[1], status=rendered[0], content_type=rendered[2])


def _minor_version() -> Fault | None:
    raw = request.args.get("minorversion")
    if raw is not None and not raw.isdigit():
        return Fault("2010", element="minorversion", detail=f"Invalid minorversion {raw}")
    return None


def _api_routes(app: Flask, state: EmulatorState) -> None:
    def books(realm_id: str) -> Any:
        return state.realm(realm_id).books

    @app.route("/v3/company/<realm_id>/query", methods=["GET", "POST"])
    def query(realm_id: str) -> Response:
        text = request.args.get("query") or request.get_data(as_text=True)

        def run() -> Outcome:
            fault = _minor_version()
            if fault:
                raise fault
            return 200, {"QueryResponse": books(realm_id).query(text), "time": timestamp()}

        return _api_call(state, realm_id, False, run)

    @app.post("/v3/company/<realm_id>/batch")
    def batch(realm_id: str) -> Response:
        body = request.get_json(silent=True) or {}

        def run() -> Outcome:
            items = body.get("BatchItemRequest")
            if not isinstance(items, list) or not items:
                raise Fault("2020", element="BatchItemRequest")
            if len(items) > BATCH_LIMIT:
                raise Fault(
                    "6000",
                    element="BatchItemRequest",
                    detail=f"Business Validation Error: a batch may hold at most {BATCH_LIMIT} operations; "
                    f"this one has {len(items)}.",
                )
            return 200, {
                "BatchItemResponse": [_batch_item(books(realm_id), item) for item in items],
                "time": timestamp(),
            }

        # a batch of queries only reads (Intuit meters it as reads): a fault injected for writes waits for a write
        items = body.get("BatchItemRequest")
        writes = not isinstance(items, list) or any(not isinstance(i, dict) or "Query" not in i for i in items)
        return _api_call(state, realm_id, writes, run)

    @app.post("/v3/company/<realm_id>/<entity>")
    def write(realm_id: str, entity: str) -> Response:
        body = request.get_json(silent=True)

        def run() -> Outcome:
            fault = _minor_version()
            if fault:
                raise fault
            name = entity_name(entity)
            if not isinstance(body, dict):
                raise Fault("2010", element=name, detail="Request body must be a JSON object")
            if request.args.get("operation") == "delete":
                return 200, {name: books(realm_id).delete(name, body), "time": timestamp()}
            if request.args.get("operation") == "update" and body.get("Id") is None:
                raise Fault("2020", element="Id")
            return 200, {name: books(realm_id).write(name, body), "time": timestamp()}

        return _api_call(state, realm_id, True, run)

    @app.get("/v3/company/<realm_id>/<entity>/<entity_id>")
    def read(realm_id: str, entity: str, entity_id: str) -> Response:
        def run() -> Outcome:
            name = entity_name(entity)
            return 200, {name: books(realm_id).read(name, entity_id), "time": timestamp()}

        return _api_call(state, realm_id, False, run)


def _batch_entity(item: dict[str, Any]) -> str:
    names = [name for name in ENTITIES if name in item]
    if len(names) != 1:
        raise Fault("2010", element="BatchItemRequest", detail="Each batch item needs exactly one entity")
    operation = item.get("operation", "create")
    if operation not in {"create", "update", "delete"}:
        raise Fault("2010", element="operation", detail=f"Operation {operation} is not supported here")
    return names[0]


def _batch_item(books: Any, item: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"bId": item.get("bId")}
    try:
        if "Query" in item:
            answer["QueryResponse"] = books.query(str(item["Query"]))
            return answer
        name = _batch_entity(item)
        if item.get("operation") == "delete":
            answer[name] = books.delete(name, item[name])
            return answer
        answer[name] = books.write(name, item[name])
    except Fault as fault:
        answer["Fault"] = fault.error_block()
    return answer


# ---------------------------------------------------------------------------------------------- control


def _control_routes(app: Flask, state: EmulatorState) -> None:
    @app.post("/__emulator/failures")
    def add_failure() -> Response:
        rule = FailureRule.from_json(request.get_json(force=True))
        state.inject(rule)
        return _json(201, {"injected": rule.__dict__})

    @app.delete("/__emulator/failures")
    def clear_failures() -> Response:
        state.clear_failures()
        return Response(status=204)

    @app.post("/__emulator/clock")
    def advance_clock() -> Response:
        state.advance(float((request.get_json(force=True) or {}).get("advanceSeconds", 0)))
        return _json(200, {"now": state.now()})

    @app.post("/__emulator/<realm_id>/connect")
    def connect(realm_id: str) -> Response:
        return _json(201, state.issue_tokens(realm_id))

    @app.get("/__emulator/<realm_id>/stats")
    def stats(realm_id: str) -> Response:
        return _json(200, state.stats(realm_id))

    @app.get("/__emulator/<realm_id>/<entity>")
    def list_records(realm_id: str, entity: str) -> Response:
        try:
            return _json(200, {entity_name(entity): state.records(realm_id, entity)})
        except Fault as fault:
            return _render_fault(fault)

    @app.get("/__emulator/<realm_id>/preferences")
    def preferences(realm_id: str) -> Response:
        return _json(200, {"Preferences": state.preferences(realm_id)})

    @app.put("/__emulator/<realm_id>/preferences")
    def set_preferences(realm_id: str) -> Response:
        try:
            return _json(200, {"Preferences": state.set_preferences(realm_id, request.get_json(silent=True))})
        except Fault as fault:
            return _render_fault(fault)

    @app.delete("/__emulator/<realm_id>/<entity>/<entity_id>")
    def delete_record(realm_id: str, entity: str, entity_id: str) -> Response:
        try:
            return _json(200, {entity_name(entity): state.delete_as_person(realm_id, entity, entity_id)})
        except Fault as fault:
            return _render_fault(fault)

    @app.post("/__emulator/<realm_id>/<entity>")
    def add_record(realm_id: str, entity: str) -> Response:
        try:
            record = state.add_record(realm_id, entity, request.get_json(force=True))
        except Fault as fault:
            return _render_fault(fault)
        return _json(201, {entity_name(entity): record})
