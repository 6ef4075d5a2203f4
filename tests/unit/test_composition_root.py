"""bootstrap is the one composition root: ``build(settings, Adapters(...))`` wires every use case over the given ports,
builds nothing until asked and each thing once, and no other module reads the settings or holds a factory."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters, Services
from ledgersync.config import Settings
from ledgersync.domain.sync.documents import DocumentKind
from tests.fakes import FakeClock

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "python" / "ledgersync"
USE_CASES = (
    "accounts",
    "directory",
    "invoices",
    "purchase_orders",
    "sync_recorder",
    "sync_targets",
    "mappers",
    "target_documents",
    "sync_states",
    "held_work",
    "web_connector",
    "qbo_connection",
    "quickbooks_tokens",
    "token_refresher",
    "bill_sync",
    "accounting_sync",
    "webhook_setup",
    "webhook_deliveries",
)


class Fake:
    """Stands in for any port: records nothing, answers nothing (building a use case calls none of its ports)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"building a use case called {self.name}.{attribute}")


def fakes() -> Adapters:
    given: dict[str, Any] = {name: Fake(name) for name in Adapters.__dataclass_fields__}
    return Adapters(**(given | {"clock": FakeClock(datetime(2026, 12, 1, tzinfo=UTC))}))


@pytest.fixture
def no_aws_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every boto3 client or resource asked for (none may be: every one goes through a boto3 Session), with no
    credentials or moto to make one, and the process's cached clients forgotten before and after."""
    import boto3.session

    from ledgersync.adapters.aws import reset_clients

    asked: list[str] = []
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, service, **_: asked.append(service))
    monkeypatch.setattr(boto3.session.Session, "resource", lambda self, service, **_: asked.append(service))
    reset_clients()
    yield asked
    reset_clients()


def test_building_every_use_case_over_fakes_touches_no_aws_when_adapters_are_given(no_aws_client: list[str]) -> None:
    # Given services built over a fake for every port
    services = bootstrap.build(Settings(), fakes())

    # When every use case is built
    built = {name: getattr(services, name) for name in USE_CASES}

    # Then they stand on the fakes, and no AWS client was asked for
    assert no_aws_client == []
    assert built["purchase_orders"].store is services.adapters.purchase_order_store
    bills = built["accounting_sync"].writers[DocumentKind.PURCHASE_ORDER_BILLS]
    assert bills.creator.gateway is services.adapters.quickbooks_gateway
    assert built["webhook_deliveries"].transport is services.adapters.webhook_transport
    assert built["qbo_connection"].intuit is built["quickbooks_tokens"].oauth is services.adapters.intuit_oauth


def test_building_every_use_case_from_settings_alone_touches_no_aws_when_nothing_is_called(
    no_aws_client: list[str],
) -> None:
    # Given services with no adapter given (the Lambda's own wiring)
    services = bootstrap.build(Settings(TABLE_NAME="t", SECRETS_PREFIX="p"))

    # When every use case is built
    for name in USE_CASES:
        getattr(services, name)

    # Then nothing reached AWS yet (a cold start pays only for the calls its handler makes)
    assert no_aws_client == []
    assert services.table.name == "t"


@pytest.mark.parametrize("name", [n for n in Adapters.__dataclass_fields__ if n != "admin_api_key"])
def test_each_given_port_is_the_one_services_use_when_built_with_it(name: str) -> None:
    services = bootstrap.build(Settings(), fakes())
    assert getattr(services, name) is getattr(services.adapters, name)


def test_the_given_admin_key_is_read_when_built_with_it() -> None:
    services = bootstrap.build(Settings(), Adapters(admin_api_key=lambda: "the-key"))
    assert services.admin_api_key() == "the-key"


@pytest.mark.parametrize("name", [n for n, v in vars(Services).items() if isinstance(v, cached_property)])
def test_each_service_is_built_once_when_asked_twice(name: str) -> None:
    services = bootstrap.build(Settings(), fakes())
    assert getattr(services, name) is getattr(services, name)


def test_connecting_and_refreshing_share_one_intuit_oauth_when_built_from_settings() -> None:
    from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuthApp

    services = bootstrap.build(Settings())
    assert isinstance(services.intuit_oauth, IntuitOAuthApp)
    assert services.qbo_connection.intuit is services.token_refresher.tokens.oauth is services.intuit_oauth


def test_a_use_case_stands_in_for_the_built_one_when_given_to_build() -> None:
    stand_in = object()
    services = bootstrap.build(Settings(), use_cases={"accounting_sync": stand_in})
    assert services.accounting_sync is stand_in


def test_an_unknown_use_case_is_refused_when_given_to_build() -> None:
    with pytest.raises(TypeError, match="accounting_synk"):
        bootstrap.build(Settings(), use_cases={"accounting_synk": object()})


def test_the_accessor_builds_once_and_install_and_reset_replace_it_when_tests_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TABLE_NAME", "first")
    bootstrap.reset()
    try:
        first = bootstrap.services()
        assert bootstrap.services() is first and first.settings.table_name == "first"
        given = bootstrap.build(Settings(TABLE_NAME="given"))
        bootstrap.install(given)
        assert bootstrap.services() is given
        monkeypatch.setenv("TABLE_NAME", "second")
        bootstrap.reset()
        assert bootstrap.services().settings.table_name == "second"
    finally:
        bootstrap.reset()


def _modules(*, handlers: bool = False) -> Iterator[tuple[str, ast.Module]]:
    """Each module of the package as ``ledgersync/...``, and with ``handlers`` each ``functions/<fn>/app.py``."""
    paths = [(path, path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))]
    if handlers:
        paths += [(path, path.relative_to(ROOT)) for path in sorted((ROOT / "functions").glob("*/app.py"))]
    for path, name in paths:
        yield str(name), ast.parse(path.read_text(encoding="utf-8"))


def test_only_bootstrap_reads_the_settings_when_the_package_and_the_handlers_are_read() -> None:
    readers = set()  # config.py defines get_settings; handlers read ``bootstrap.services().settings``
    for name, tree in _modules(handlers=True):
        for node in ast.walk(tree):
            imported = isinstance(node, ast.ImportFrom) and any(a.name == "get_settings" for a in node.names)
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_settings"
            if imported or called:
                readers.add(name)
    assert readers == {"ledgersync/bootstrap.py"}


def test_no_adapter_module_defines_a_factory_when_the_adapters_are_read() -> None:
    factories = [
        f"{name}:{node.name}"
        for name, tree in _modules()
        if name.startswith("ledgersync/adapters/")
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("build_")
    ]
    assert factories == []


def test_no_adapter_falls_back_to_the_environments_settings_when_the_adapters_are_read() -> None:
    fallbacks = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if name.startswith("ledgersync/adapters/")
        for node in ast.walk(tree)
        if isinstance(node, ast.arg)
        and node.annotation is not None
        and ast.unparse(node.annotation).replace(" ", "") in {"Settings|None", "Optional[Settings]"}
    ]
    assert fallbacks == []
