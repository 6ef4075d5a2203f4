"""Cold starts as deployed: import each handler from the `sam build` artifact in a fresh python3.12 process.

The path is the one Lambda gives a python3.12 function: the function's code (/var/task), the layer (/opt/python),
then the runtime's own boto3 (/var/runtime; `make bench` installs the locked one in .aws-sam/lambda-runtime).
Nothing else: a package the layer forgot fails the import here as it would on Lambda. Each handler is imported
RUNS times; the figure is the median and the fastest run, with the .pyc files the build ships and, for comparison,
without them (-X pycache_prefix pointed at an empty directory: what a layer without __pycache__ costs).
Also imports the X-Ray Tracer once with LEDGERSYNC_XRAY_SUBSEGMENTS=true, proving the opt-in is packaged.
Prints figures; asserts nothing about time. Run with python3.12: `make build && make bench`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "CommonLayer" / "python"
RUNTIME = ROOT / ".aws-sam" / "lambda-runtime"
RUNS = 5
IMPORT = (
    "import sys, time; sys.path[:0] = sys.argv[1:4]; t = time.perf_counter(); import app; "
    "app.lambda_handler; print((time.perf_counter() - t) * 1000)"
)


def functions() -> list[Path]:
    return sorted(path for path in BUILD.iterdir() if (path / "app.py").exists())


def import_ms(function: Path, env: dict[str, str], flags: tuple[str, ...]) -> float:
    out = subprocess.run(
        [sys.executable, "-I", "-B", *flags, "-c", IMPORT, str(function), str(LAYER), str(RUNTIME)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 and "_pydantic_core" in out.stderr:
        raise SystemExit(
            f"the built layer's native modules are for another architecture than this machine's: build one for it,"
            f" e.g. `make build LAYER_PLATFORM=manylinux2014_x86_64` (do not deploy that build to arm64)\n{out.stderr}"
        )
    if out.returncode != 0:
        raise SystemExit(f"{function.name} does not import from the built artifact:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def figures(function: Path, env: dict[str, str], flags: tuple[str, ...] = ()) -> tuple[float, float]:
    runs = [import_ms(function, env, flags) for _ in range(RUNS)]
    return statistics.median(runs), min(runs)


def main() -> None:
    if sys.version_info[:2] != (3, 12):
        raise SystemExit("run with python3.12, the Lambda runtime (make bench does)")
    if not LAYER.is_dir() or not RUNTIME.is_dir():
        raise SystemExit("no built layer: run `make build`, then `make bench` (it installs .aws-sam/lambda-runtime)")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "POWERTOOLS_SERVICE_NAME": "ledgersync",
    }
    size_mb = sum(f.stat().st_size for f in LAYER.rglob("*") if f.is_file()) / 1e6
    print(f"cold import from {BUILD.relative_to(ROOT)} (layer {size_mb:.0f} MB), ms over {RUNS} fresh processes")
    print(f"{'function':28} {'median':>8} {'fastest':>8} {'no .pyc':>8}")
    with tempfile.TemporaryDirectory() as empty:
        for function in functions():
            median, fastest = figures(function, env)
            uncompiled, _ = figures(function, env, ("-X", f"pycache_prefix={empty}"))
            print(f"{function.name:28} {median:8.0f} {fastest:8.0f} {uncompiled:8.0f}")
    traced, _ = figures(BUILD / "InvoiceCreateFunction", env | {"LEDGERSYNC_XRAY_SUBSEGMENTS": "true"})
    print(f"{'InvoiceCreate + X-Ray Tracer':28} {traced:8.0f}")


if __name__ == "__main__":
    main()
