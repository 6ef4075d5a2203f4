"""The README runs as written: every ``bash walkthrough`` block, in order, against a fresh local stack, each answer
it shows checked against the real one (the same extraction ``make demo`` runs), so a README edit or an API
change that breaks a step fails here."""

from __future__ import annotations

import shutil

import pytest
from devstack.demo import README, extract, report, run
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's walkthroughs use curl")
def test_every_readme_walkthrough_runs_as_written_when_run_against_a_fresh_stack() -> None:
    # Given the README's walkthroughs and a fresh local stack (the demo company seeded, as `make run` does)
    walkthroughs = extract(README.read_text(encoding="utf-8"))
    titles = [w.title for w in walkthroughs]
    assert titles == [
        "Companies, users and tokens",
        "The directory",
        "invoice.create (seed 002)",
        "Purchase orders and Send to External System (seed 000)",
        "QuickBooks Online",
        "Sales invoices to QuickBooks Online",
        "The PO Reconciliation webhook (seed 001)",
        "QuickBooks Desktop (the Web Connector)",
        "Sales invoices to QuickBooks Desktop",
        "The Sales Invoice Export (Rootstock)",
    ]
    with LocalStack(seed=True, schedules=False) as stack:
        # When they run in one bash, from the repository root, as `make demo` runs them
        result = run(walkthroughs, {"API": stack.api_url}, echo=False, timeout=300)
    # Then every command ran and every answer the README shows is the one the run gave
    assert result.ok, result.output[-6000:] + report(result, walkthroughs)
    assert result.ran == result.total > 50
