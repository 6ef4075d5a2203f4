"""The documentation page renders in a real browser with no network but loopback (issue 13 item 2).

Debian's chromium loads ``/v1/docs`` from the local stack, headless; the test reads the rendered DOM for the areas
and the operations, and Chromium's own network log for every URL it requested: none may leave 127.0.0.1.
``make chromium`` (a prerequisite of ``make test``) installs the browser when it is missing; so does this module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from devstack.stack import LocalStack

from ledgersync.routes.service import ASSETS, TAGS

ROOT = Path(__file__).resolve().parents[2]
# Without the background-networking flags Chromium reaches out on its own (and those connections are refused here).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=NetworkTimeServiceQuerying",  # the browser's own clock check, not the page's
    "--window-size=1280,2400",
    "--virtual-time-budget=20000",
)
LOOPBACK = {"127.0.0.1", "localhost"}
PAGE_SITE = "http://127.0.0.1 "  # the network isolation key of every request the page makes: its top frame's site


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        subprocess.run(["make", "--no-print-directory", "chromium"], cwd=ROOT, check=False, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        message = "chromium is missing and `make chromium` could not install it (it needs root and apt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(schedules=False, pollers=False) as running:
        yield running


def browse(url: str, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run Chromium on ``url`` with a fresh profile; its output and every URL its network log shows it requested."""
    net_log = tmp_path / "net-log.json"
    command = [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--log-net-log={net_log}", *extra, url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run, requested_urls(net_log)


def requested_urls(net_log: Path) -> list[str]:
    """The URLs the page requested, in order, from a Chromium NetLog: its URL_REQUEST_START_JOB events whose network
    isolation key is the page's loopback site (a script or style sheet from a CDN would be one of them). The browser's
    own traffic (component updates, account checks) has keys of its own and is not the page's."""
    text = net_log.read_text(encoding="utf-8")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short by the browser's exit lacks the end of its events list
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls: dict[str, None] = {}
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") == start_job and str(params.get("network_isolation_key", "")).startswith(PAGE_SITE):
            urls[str(params["url"])] = None
    return list(urls)


def test_the_docs_page_renders_every_area_and_operation_with_no_network_but_loopback_when_browsed(
    stack: LocalStack, tmp_path: Path
) -> None:
    # Given the served document's areas and operations
    document = requests.get(f"{stack.api_url}/v1/openapi.json", timeout=30).json()
    summaries = {op["summary"] for ops in document["paths"].values() for op in ops.values()}

    # When Chromium loads the page and runs its scripts
    run, urls = browse(f"{stack.api_url}/v1/docs", tmp_path, "--dump-dom")
    dom = run.stdout

    # Then Swagger UI rendered the document: its title, every area, every operation's summary, the Authorize button
    assert 'class="swagger-ui' in dom, dom[:2000]
    assert "Ledgersync API" in dom
    for name, _, _ in TAGS:
        assert f'data-tag="{name}"' in dom, name
    missing = {s for s in summaries if s.replace("&", "&amp;").replace('"', "&quot;") not in dom}
    assert not missing, missing
    assert "authorize" in dom
    # And "Try it out" calls the API where the page is served (behind a stage prefix, that prefix included)
    assert f'<option value="{stack.api_url.rstrip("/")}"' in dom, dom[dom.find("servers") : dom.find("servers") + 600]
    # And every request the page made stayed on loopback: the page, its three assets and the document, nothing else
    outside = [u for u in urls if urlsplit(u).hostname not in LOOPBACK]
    assert not outside, outside
    paths = {urlsplit(u).path for u in urls}
    assert {"/v1/docs", "/v1/openapi.json", *(f"/v1/docs/{name}" for name in ASSETS)} <= paths, paths
