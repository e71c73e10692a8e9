"""The bastion install: the wheel without the `analyze` extra runs capture, and has no polars.

This is the path README documents (`uv tool install` / `pipx install` of the wheel, or a venv
with `pip install hotshard-*.whl`): build the wheel, install it with runtime dependencies only
into a fresh venv, and run the real entry points from there against a real server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hotshard.capture.format import manifest

ROOT = Path(__file__).parent.parent


def _sh(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    return uv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # sdist first, wheel from the sdist: what a release does, and no stale build/ folder of this
    # checkout can slip a deleted module into the wheel
    _sh(_uv(), "build", "--out-dir", str(dist), str(ROOT))
    (found,) = dist.glob("hotshard-*.whl")
    return found


@pytest.fixture(scope="module")
def bastion_venv(tmp_path_factory, wheel):
    uv, sh = _uv(), _sh
    tmp = tmp_path_factory.mktemp("bastion")
    sh(uv, "venv", "--quiet", "--python", sys.executable, str(tmp / "venv"))
    sh(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(tmp / "venv" / "bin" / "python"),
        str(wheel),
    )
    return tmp / "venv" / "bin"


@pytest.mark.slow
def test_the_wheel_installs_hotshard_capture_and_analyze_only(wheel):
    """One namespace: no top-level `capture` or `analyze` in site-packages to collide with
    public packages of those names; the analyzer's data files inside."""
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {
        n.split("/")[0] if n.split("/")[0] != "hotshard" else "/".join(n.split("/")[:2])
        for n in names
    }
    assert tops == {"hotshard/capture", "hotshard/analyze", "hotshard-0.1.0.dist-info"}
    assert "hotshard/__init__.py" not in names  # a namespace package: hotshard.* may grow
    for data in ("check_rules.toml", "commands-redis-7.0.json"):
        assert f"hotshard/analyze/data/{data}" in names


@pytest.mark.slow
def test_the_wheel_alone_captures_without_polars(bastion_venv, redis_node, tmp_path):
    def run(*cmd: str) -> subprocess.CompletedProcess:
        # cwd elsewhere: only the installed package may be imported, not this checkout
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)

    for module in ("polars", "pyarrow"):
        assert run(str(bastion_venv / "python"), "-c", f"import {module}").returncode != 0
    done = run(str(bastion_venv / "hotshard"), "endpoints", "--endpoints", redis_node.address)
    assert done.returncode == 0, done.stderr
    assert "shard 0001" in done.stdout

    out = tmp_path / "cap"
    done = run(
        str(bastion_venv / "hotshard"),
        "capture",
        "--endpoints",
        redis_node.address,
        "-d",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert manifest.read(out).status == "complete"

    # the predecessor's entry point, as its runbooks call it
    legacy = tmp_path / "legacy"
    done = run(
        str(bastion_venv / "elasticache-monitor"),
        "--endpoints",
        redis_node.address,
        "-d",
        "1",
        "--out",
        str(legacy),
        "--use-primary",
        "--no-sizes",
    )
    assert done.returncode == 0, done.stderr
    assert [n.role for n in manifest.read(legacy).nodes if n.monitored] == ["primary"]
