"""``make demo``: run the README's walkthroughs, as written, against a running local stack.

The README is the single source: every fenced block whose info string is ``bash walkthrough`` is a walkthrough
step. The blocks are cut into commands (a command ends where ``bash -n`` accepts what has been read), run in
order in one ``bash -euo pipefail`` process from the repository root, and each command is printed with its
answer. A comment ``# -> <answer>`` (continued on ``#   `` lines) right after a command is the answer the README
shows: the real answer must match it, blanks aside, ``...`` standing for anything (ids, tokens, dates).

    python -m devstack.demo                      # against the stack `make run` started (.devstack/endpoints.json)
    python -m devstack.demo --api http://127.0.0.1:3001
    python -m devstack.demo --print-script       # the bash script, not run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.template import REPO_ROOT

README = REPO_ROOT / "README.md"
ENDPOINTS_FILE = REPO_ROOT / ".devstack" / "endpoints.json"
DEFAULT_API = "http://127.0.0.1:3000"
FENCE = re.compile(r"^```bash walkthrough\s*\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{2,4} (.+)$", re.MULTILINE)
EXPECTED = "# -> "
CONTINUED = re.compile(r"^#\s{2,}\S")
DEFAULT_TIMEOUT = 600.0


class WalkthroughError(Exception):
    """A walkthrough block cannot be read as shell commands."""


@dataclass
class Command:
    """One shell command of a walkthrough and the answer the README shows for it (a pattern), if any."""

    text: str
    expected: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Walkthrough:
    """One ``bash walkthrough`` block, under the README heading it sits in."""

    title: str
    line: int
    commands: list[Command] = field(default_factory=list)


@dataclass
class Mismatch:
    """A command whose real answer is not the one the README shows."""

    walkthrough: str
    command: str
    expected: str
    actual: str


@dataclass
class DemoResult:
    """How a run went: the exit status of bash, the commands run, and the answers that differ from the README."""

    returncode: int
    ran: int
    total: int
    output: str
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.ran == self.total and not self.mismatches


def is_complete(text: str) -> bool:
    """Whether ``text`` is whole shell commands (bash parses it without reaching the end of the input early)."""
    if text.rstrip().endswith("\\"):
        return False
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)  # noqa: S607
    return checked.returncode == 0


def parse_block(title: str, line: int, body: str) -> Walkthrough:
    """Cut one block into commands; comments after a command are its expected answer or notes."""
    walkthrough = Walkthrough(title, line)
    pending: list[str] = []
    expecting = False
    for raw in body.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            last = walkthrough.commands[-1] if walkthrough.commands else None
            if stripped.startswith(EXPECTED) and last is not None and last.expected is None:
                last.expected = stripped[len(EXPECTED) :]
                expecting = True
            elif expecting and last is not None and last.expected is not None and CONTINUED.match(stripped):
                last.expected += " " + stripped.lstrip("#").strip()
            else:
                expecting = False
                if stripped and last is not None:
                    last.notes.append(stripped)
                elif stripped:
                    walkthrough.commands.append(Command(":", notes=[stripped]))
            continue
        expecting = False
        pending.append(raw)
        text = "\n".join(pending)
        if is_complete(text + "\n"):
            walkthrough.commands.append(Command(text))
            pending = []
    if pending:
        raise WalkthroughError(f"README.md line {line}: the block '{title}' ends inside a command: {pending[0]!r}")
    return walkthrough


def extract(readme: str) -> list[Walkthrough]:
    """Every ``bash walkthrough`` block of the README, in order, titled by the heading above it."""
    walkthroughs = []
    for match in FENCE.finditer(readme):
        headings = HEADING.findall(readme[: match.start()])
        title = headings[-1].strip() if headings else "README"
        line = readme.count("\n", 0, match.start()) + 1
        walkthroughs.append(parse_block(title, line, match.group(1)))
    if not walkthroughs:
        raise WalkthroughError("README.md has no ```bash walkthrough blocks")
    return walkthroughs


def script(walkthroughs: list[Walkthrough], outputs: Path) -> str:
    """The bash script that runs every command in order, printing it and its answer (also kept in ``outputs``)."""
    lines = [
        "set -euo pipefail",
        f"DEMO_OUT={shlex.quote(str(outputs))}",
        'mkdir -p "$DEMO_OUT"',
    ]
    index = 0
    for walkthrough in walkthroughs:
        lines.append(f"printf '\\n=== %s\\n' {shlex.quote(walkthrough.title)}")
        for command in walkthrough.commands:
            if command.text == ":":
                lines.append(f"printf '%s\\n' {' '.join(shlex.quote(n) for n in command.notes)}")
                continue
            shown = "\n".join(("$ " if i == 0 else "  ") + part for i, part in enumerate(command.text.splitlines()))
            lines.append(f"printf '\\n%s\\n' {shlex.quote(shown)}")
            lines.append(f'echo {index} > "$DEMO_OUT/started"')
            lines.append("{")
            lines.append(command.text)
            lines.append(f'}} > "$DEMO_OUT/{index}.out" 2>&1 || {{ cat "$DEMO_OUT/{index}.out"; exit 1; }}')
            lines.append(f'cat "$DEMO_OUT/{index}.out"')
            if command.expected is not None:
                lines.append(f"printf '\\n%s\\n' {shlex.quote(EXPECTED + command.expected)}")
            lines.extend(f"printf '%s\\n' {shlex.quote(note)}" for note in command.notes)
            index += 1
    lines.append(f'echo {index} > "$DEMO_OUT/started"')
    return "\n".join(lines) + "\n"


def matches(expected: str, actual: str) -> bool:
    """The answer matches the README's: blanks do not count, ``...`` stands for anything."""
    pattern = ".*?".join(re.escape(part) for part in re.sub(r"\s+", "", expected).split("..."))
    return re.fullmatch(pattern, re.sub(r"\s+", "", actual), re.DOTALL) is not None


def run(
    walkthroughs: list[Walkthrough],
    environment: dict[str, str],
    *,
    echo: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: Path = REPO_ROOT,
) -> DemoResult:
    """Run the walkthroughs in one bash from ``cwd``, print as they go, then compare answers with the README."""
    commands = [(w.title, c) for w in walkthroughs for c in w.commands if c.text != ":"]
    with tempfile.TemporaryDirectory(prefix="ledgersync-demo-") as scratch:
        outputs = Path(scratch)
        env = {**os.environ, **environment}
        pythonpath = [str(REPO_ROOT / "layers" / "common" / "python"), str(REPO_ROOT)]
        env["PYTHONPATH"] = os.pathsep.join([*pythonpath, *filter(None, [os.environ.get("PYTHONPATH")])])
        process = subprocess.Popen(  # noqa: S603
            [shutil.which("bash") or "bash", "-euo", "pipefail", "-c", script(walkthroughs, outputs)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        printed: list[str] = []
        try:
            assert process.stdout is not None
            for text in process.stdout:
                printed.append(text)
                if echo:
                    print(text, end="", flush=True)
            returncode = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        # the index of the command running when bash stopped: all of them once it got to the end
        started = outputs / "started"
        ran = int(started.read_text(encoding="utf-8")) if started.exists() else 0
        mismatches = []
        for index, (title, command) in enumerate(commands[:ran]):
            if command.expected is None:
                continue
            actual = (outputs / f"{index}.out").read_text(encoding="utf-8", errors="replace")
            if not matches(command.expected, actual):
                mismatches.append(Mismatch(title, command.text, command.expected, actual.strip()))
    return DemoResult(returncode, ran, len(commands), "".join(printed), mismatches)


def report(result: DemoResult, walkthroughs: list[Walkthrough]) -> str:
    """A closing summary: what ran, which step failed, which answers differ from the README."""
    commands = [(w.title, c) for w in walkthroughs for c in w.commands if c.text != ":"]
    lines = [""]
    if result.returncode != 0 and result.ran < len(commands):
        title, command = commands[result.ran]
        lines.append(f"demo: FAILED in '{title}' (exit {result.returncode}) at:\n  {command.text}")
    lines.extend(
        f"demo: the answer differs from the README in '{mismatch.walkthrough}':\n  $ {mismatch.command}\n"
        f"  README shows: {mismatch.expected}\n  the run gave: {mismatch.actual[:2000]}"
        for mismatch in result.mismatches
    )
    if result.ok:
        lines.append(f"demo: all {result.total} commands ran as the README says.")
    return "\n".join(lines)


def endpoints(api: str | None, endpoints_file: Path) -> dict[str, object]:
    """The running stack's endpoints: from ``--api`` (its /__devstack/endpoints), else .devstack/endpoints.json."""
    if api is None and endpoints_file.exists():
        api = str(json.loads(endpoints_file.read_text(encoding="utf-8"))["api_url"])
    api = (api or DEFAULT_API).rstrip("/")
    try:
        answer = requests.get(f"{api}/__devstack/endpoints", timeout=10)
    except requests.RequestException as error:
        raise ConnectionError(f"no local stack answers at {api} ({error}); start one with `make run`") from error
    if answer.status_code != 200:
        raise ConnectionError(f"{api}/__devstack/endpoints answered {answer.status_code}: is this the local stack?")
    found: dict[str, object] = answer.json()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.demo", description="Run the README's walkthroughs against a running local stack."
    )
    parser.add_argument("--api", help=f"the stack's API URL (default: from {ENDPOINTS_FILE}, else {DEFAULT_API})")
    parser.add_argument("--readme", type=Path, default=README, help="the README to run (default: %(default)s)")
    parser.add_argument("--print-script", action="store_true", help="print the bash script instead of running it")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the whole run")
    args = parser.parse_args(argv)
    try:
        walkthroughs = extract(args.readme.read_text(encoding="utf-8"))
    except (OSError, WalkthroughError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    if args.print_script:
        print(script(walkthroughs, Path(tempfile.gettempdir()) / "ledgersync-demo"))
        return 0
    try:
        found = endpoints(args.api, ENDPOINTS_FILE)
    except ConnectionError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    try:
        result = run(walkthroughs, {"API": str(found["api_url"])}, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"demo: the walkthroughs took longer than {args.timeout:g} s", file=sys.stderr)
        return 1
    print(report(result, walkthroughs))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
