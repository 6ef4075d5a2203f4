"""Local stack manners: --help prints help, endpoints.json goes on stop, a readable console, rates the right way."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from devstack import __main__ as devstack_main
from devstack.seed import DIRECTORY


@pytest.fixture
def restored_signals() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


class FakeStack:
    """Stands in for LocalStack: records what main did, and asks main to stop once it is running."""

    instances: ClassVar[list[FakeStack]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.file_while_running: bool | None = None
        FakeStack.instances.append(self)

    def start(self) -> FakeStack:
        return self

    def endpoints(self) -> dict[str, object]:
        os.kill(os.getpid(), signal.SIGTERM)  # main's handler sets its stop event: it stops after the banner
        return {
            "api_url": "http://127.0.0.1:3999",
            "qbwc_url": "http://127.0.0.1:3999/qbwc",
            "emails_url": "http://127.0.0.1:3999/__devstack/emails",
            "moto_url": "http://127.0.0.1:5999",
            "admin_api_key": "k" * 32,
            "demo": {"company_id": "co_1", "token": "lsk_" + "t" * 30},
        }

    def stop(self) -> None:
        self.file_while_running = devstack_main.ENDPOINTS_FILE.exists()


def test_help_prints_usage_and_starts_nothing_when_asked_for_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeStack.instances.clear()
    monkeypatch.setattr(devstack_main, "LocalStack", FakeStack)

    with pytest.raises(SystemExit) as exited:
        devstack_main.main(["--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage: python -m devstack" in out and "LOG_LEVEL" in out and "API_PORT" in out
    assert FakeStack.instances == []


def test_an_unknown_option_is_refused_and_starts_nothing_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeStack.instances.clear()
    monkeypatch.setattr(devstack_main, "LocalStack", FakeStack)

    with pytest.raises(SystemExit) as exited:
        devstack_main.main(["--port", "3001"])

    assert exited.value.code == 2 and FakeStack.instances == []


def test_endpoints_file_is_removed_when_the_stack_stops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restored_signals: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given
    FakeStack.instances.clear()
    monkeypatch.setattr(devstack_main, "LocalStack", FakeStack)
    monkeypatch.setattr(devstack_main, "ENDPOINTS_FILE", tmp_path / ".devstack" / "endpoints.json")
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    seen: list[bool] = []
    shown = devstack_main.banner

    def banner(endpoints: dict[str, object], seconds: float) -> str:
        seen.append(devstack_main.ENDPOINTS_FILE.exists())
        return shown(endpoints, seconds)

    monkeypatch.setattr(devstack_main, "banner", banner)

    # When the stack runs and is told to stop
    assert devstack_main.main([]) == 0

    # Then the file was there while it ran, and is gone once stopped
    (stack,) = FakeStack.instances
    assert seen == [True]
    assert stack.file_while_running is False
    assert not devstack_main.ENDPOINTS_FILE.exists()
    assert "devstack: stopped." in capsys.readouterr().out


def test_endpoints_file_of_another_stack_is_kept_when_this_one_stops(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"api_url": "http://127.0.0.1:3001"}), encoding="utf-8")

    devstack_main.remove_endpoints({"api_url": "http://127.0.0.1:3000"}, path)

    assert path.exists()


def test_console_has_the_log_level_and_no_metric_lines_when_nothing_is_set() -> None:
    assert devstack_main.console_environment({}) == {
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    chosen = devstack_main.console_environment({"LOG_LEVEL": "debug", "DEVSTACK_METRICS": "true"})
    assert chosen == {"POWERTOOLS_LOG_LEVEL": "DEBUG", "POWERTOOLS_METRICS_DISABLED": "false"}


def test_the_stack_gets_the_console_settings_when_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restored_signals: None
) -> None:
    FakeStack.instances.clear()
    monkeypatch.setattr(devstack_main, "LocalStack", FakeStack)
    monkeypatch.setattr(devstack_main, "ENDPOINTS_FILE", tmp_path / "endpoints.json")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    devstack_main.main([])

    (stack,) = FakeStack.instances
    assert stack.kwargs["environment"]["POWERTOOLS_LOG_LEVEL"] == "WARNING"
    assert stack.kwargs["environment"]["POWERTOOLS_METRICS_DISABLED"] == "true"


def test_a_wrong_log_level_is_refused_with_the_levels_to_use_when_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeStack.instances.clear()
    monkeypatch.setattr(devstack_main, "LocalStack", FakeStack)
    monkeypatch.setenv("LOG_LEVEL", "LOUD")

    assert devstack_main.main([]) == 2

    assert "LOG_LEVEL is 'LOUD'; use one of DEBUG, INFO, WARNING, ERROR" in capsys.readouterr().err
    assert FakeStack.instances == []


def test_powertools_warnings_are_not_shown_when_the_console_is_quiet(recwarn: pytest.WarningsRecorder) -> None:
    import warnings

    from aws_lambda_powertools import Metrics

    with warnings.catch_warnings():
        devstack_main.quiet_powertools_warnings()
        Metrics(namespace="Test", service="test").flush_metrics()

    assert [str(w.message) for w in recwarn] == []


def test_demo_exchange_rates_are_company_currency_units_per_unit_of_the_currency_when_seeded() -> None:
    rates = {r["currency"]: Decimal(r["rate"]) for r in DIRECTORY["exchange-rates"]}

    # the demo company is in USD: 1 CAD is about 0.73 USD, 1 EUR about 1.09 USD
    assert Decimal("0.6") < rates["CAD"] < Decimal("0.8")
    assert Decimal("1.0") < rates["EUR"] < Decimal("1.2")
