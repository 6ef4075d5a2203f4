"""The deployable build: the hash-pinned lock, the layer it exports, byte-compiled artifacts, the X-Ray opt-in."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAYER_MAKEFILE = ROOT / "layers" / "common" / "Makefile"


def _lockfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lockfile", ROOT / "layers" / "common" / "lockfile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lockfile = _lockfile()


def test_lock_is_fresh_against_pyproject_when_committed() -> None:
    assert lockfile.stale_reason() is None


def test_lock_is_stale_when_a_runtime_dependency_changes(tmp_path: Path) -> None:
    # Given a pyproject.toml whose dependencies moved on without `make lock`
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text().replace('"lxml>=5.0"', '"lxml>=6.0"'))
    shutil.copy(lockfile.LOCK, tmp_path / "requirements.lock")
    # When / Then
    reason = lockfile.stale_reason(pyproject, tmp_path / "requirements.lock")
    assert reason is not None
    assert "make lock" in reason


def test_lock_stays_fresh_when_only_dev_tools_change(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text().replace('"pytest>=8"', '"pytest>=8.1"'))
    assert lockfile.stale_reason(pyproject, lockfile.LOCK) is None


def test_every_locked_requirement_is_pinned_with_hashes() -> None:
    blocks = lockfile.requirement_blocks()
    assert blocks
    for name, block in blocks.items():
        assert re.match(r"^[A-Za-z0-9._-]+==\S+", block), name
        assert "--hash=sha256:" in block, name


def test_layer_leaves_boto3_to_the_runtime_when_exported() -> None:
    layer = lockfile.requirement_blocks_from_text(lockfile.export(runtime=False))
    assert not {"boto3", "botocore", "s3transfer", "python-dateutil"} & layer.keys()
    # what our code imports, and what Powertools needs besides boto3
    assert {"aws-lambda-powertools", "pydantic", "requests", "intuit-oauth", "lxml", "jmespath"} <= layer.keys()


def test_layer_packages_the_x_ray_sdk_and_no_unused_extras() -> None:
    layer = lockfile.requirement_blocks_from_text(lockfile.export(runtime=False))
    assert "aws-xray-sdk" in layer  # LEDGERSYNC_XRAY_SUBSEGMENTS=true imports it at init
    assert "fastjsonschema" not in layer  # the validation extra: nothing imports it


def test_runtime_export_is_the_boto3_the_lambda_runtime_ships() -> None:
    runtime = lockfile.requirement_blocks_from_text(lockfile.export(runtime=True))
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"} == runtime.keys()


def test_layer_build_installs_with_hashes_and_ships_unchecked_hash_pyc() -> None:
    recipe = LAYER_MAKEFILE.read_text()
    assert "--require-hashes" in recipe
    assert "lockfile.py export --layer" in recipe
    install, compile_step = recipe.index("pip install"), recipe.index("compileall")
    pycache_removal = recipe.index("-name __pycache__")
    assert install < pycache_removal < compile_step  # the .pyc files are the last thing written
    assert "--invalidation-mode unchecked-hash" in recipe[compile_step:]


def _loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        return None

    Loader.add_multi_constructor("!", any_tag)
    return Loader


def test_layer_platform_matches_the_function_architecture() -> None:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_loader())
    architectures = template["Globals"]["Function"]["Architectures"]
    platform = re.search(r"manylinux2014_(\w+)\)", LAYER_MAKEFILE.read_text())
    assert platform
    expected = {"arm64": "aarch64", "x86_64": "x86_64"}[architectures[0]]
    assert platform.group(1) == expected


def test_x_ray_subsegments_wrap_the_handler_when_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given
    monkeypatch.setenv("LEDGERSYNC_XRAY_SUBSEGMENTS", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from ledgersync.observability import Tracing

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"ok": event["n"]}

    # When
    wrapped = Tracing().capture_lambda_handler(handler)
    # Then
    assert wrapped is not handler
    assert wrapped({"n": 1}, None) == {"ok": 1}
