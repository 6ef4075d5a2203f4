"""``python -m devstack`` (``make run``): the whole service on this machine, until Ctrl-C.

API_PORT (default 3000) sets the gateway's port, ADMIN_API_KEY the admin key (else a random one), LOG_LEVEL
(DEBUG, INFO, WARNING, ERROR; default INFO) the handlers' log level, DEVSTACK_METRICS=true prints the handlers'
CloudWatch metric lines (off by default: they are JSON noise on a console). The console shows the admin key and
the demo token masked (console output ends up in logs); the full values are in .devstack/endpoints.json (readable
by you only, removed on stop) and at GET /__devstack/endpoints (from this machine only).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from types import FrameType

from devstack.seed import SeedError
from devstack.stack import LocalStack
from devstack.template import REPO_ROOT, TemplateError

ENDPOINTS_FILE = REPO_ROOT / ".devstack" / "endpoints.json"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUE = ("1", "true", "yes", "on")


def parser() -> argparse.ArgumentParser:
    """The command line: no options beyond --help; the settings are environment variables."""
    return argparse.ArgumentParser(
        prog="python -m devstack",
        description="The whole Ledgersync service on this machine (make run): moto, the local API gateway, the "
        "SQS pollers and schedules, the QuickBooks Online emulator, a webhook receiver and a demo company. "
        "Ctrl-C stops everything.",
        epilog="environment: API_PORT (default 3000; 0 picks a free port), ADMIN_API_KEY (default: random), "
        f"LOG_LEVEL ({', '.join(LOG_LEVELS)}; default INFO), DEVSTACK_METRICS=true (print the metric lines). "
        f"The URLs and keys are written to {ENDPOINTS_FILE} while the stack runs. "
        "`make demo` runs the README's walkthroughs against it.",
    )


def console_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The handlers' settings that keep the console readable: the log level, and no metric lines unless asked."""
    level = (environ.get("LOG_LEVEL") or "INFO").strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL is {environ.get('LOG_LEVEL')!r}; use one of {', '.join(LOG_LEVELS)}")
    metrics = (environ.get("DEVSTACK_METRICS") or "").strip().lower() in TRUE
    return {"POWERTOOLS_LOG_LEVEL": level, "POWERTOOLS_METRICS_DISABLED": "false" if metrics else "true"}


def quiet_powertools_warnings() -> None:
    """Powertools warns on every invocation that publishes no metric: noise for a person reading the console."""
    warnings.filterwarnings("ignore", module=r"aws_lambda_powertools(\..*)?$")


def main(argv: list[str] | None = None) -> int:
    """Start the stack, seed the demo company, print how to use it, and wait for a signal."""
    parser().parse_args(argv)
    try:
        environment = console_environment(os.environ)
    except ValueError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 2
    quiet_powertools_warnings()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    stack = LocalStack(
        api_port=int(os.environ.get("API_PORT", "3000")),
        stack_name="ledgersync-local",
        admin_api_key=os.environ.get("ADMIN_API_KEY") or None,
        seed=True,
        log_requests=True,
        print_emails=True,
        environment=environment,
    )
    try:
        stack.start()
    except (SeedError, TemplateError, OSError) as error:
        print(f"devstack: could not start: {error}", file=sys.stderr)
        return 1
    endpoints: dict[str, object] = {}
    try:
        endpoints = stack.endpoints()
        write_endpoints(endpoints, ENDPOINTS_FILE)
        print(banner(endpoints, time.monotonic() - started), flush=True)
        stop.wait()
    finally:
        print("\ndevstack: stopping...", flush=True)
        remove_endpoints(endpoints, ENDPOINTS_FILE)
        stack.stop()
        print("devstack: stopped.", flush=True)
    return 0


def write_endpoints(endpoints: dict[str, object], path: Path) -> None:
    """Write the endpoints where scripts can read them (.devstack/endpoints.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(endpoints, indent=2) + "\n", encoding="utf-8")


def remove_endpoints(endpoints: dict[str, object], path: Path) -> None:
    """Remove .devstack/endpoints.json on stop, unless another stack has written its own there since."""
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(written, dict) and written.get("api_url") == endpoints.get("api_url"):
        path.unlink(missing_ok=True)


def masked(secret: object) -> str:
    """A secret as the console shows it: its last four characters."""
    text = str(secret or "")
    return f"***{text[-4:]}" if len(text) > 8 else "***"


def try_with_token_variable(curl: str, token: object) -> str:
    """The example curl reading the token from $TOKEN (it sits inside single quotes, so they close around it)."""
    return curl.replace(str(token), "'\"$TOKEN\"'") if token else curl


def banner(endpoints: dict[str, object], seconds: float) -> str:
    """The lines printed once the stack is ready."""
    demo = endpoints.get("demo") or {}
    assert isinstance(demo, dict)
    emulators = endpoints.get("emulators") or {}
    assert isinstance(emulators, dict)
    lines = [
        "",
        f"Ledgersync local stack ready in {seconds:.1f} s",
        f"  API              {endpoints['api_url']}   (health: /v1/health, docs: /v1/docs)",
        f"  Web Connector    {endpoints['qbwc_url']}",
        f"  e-mails sent     {endpoints['emails_url']}",
        f"  AWS (moto)       {endpoints['moto_url']}",
    ]
    lines += [f"  {name:<16} {url}" for name, url in emulators.items()]
    lines += [
        f"  admin key        {masked(endpoints['admin_api_key'])}   (header X-Admin-Key)",
        f"  demo company     {demo.get('company_id')}",
        f"  demo token       {masked(demo.get('token'))}   (Authorization: Bearer ..., or authenticationToken)",
        f"  full values      {ENDPOINTS_FILE} (admin_api_key, demo.token)",
        "",
        "Try:",
        f"  TOKEN=$({sys.executable} -c \"import json; print(json.load(open('{ENDPOINTS_FILE}'))['demo']['token'])\")",
        f"  {try_with_token_variable(str(endpoints.get('try', '')), demo.get('token'))}",
        "",
        f"Run a schedule now: curl -X POST {endpoints['api_url']}/__devstack/schedules/SchedulerFunction",
        f"Written to {ENDPOINTS_FILE}. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
