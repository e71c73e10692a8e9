"""The bastion install: the wheel without the `analyze` extra runs capture, and has no polars.

This is the path README documents (`uv tool install` / `pipx install` of the wheel, or a venv
with `pip install hotshard-*.whl`): build the wheel, install it with runtime dependencies only
into a fresh venv, and run the real entry points from there against a real server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capture.format import manifest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def bastion_venv(tmp_path_factory):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    tmp = tmp_path_factory.mktemp("bastion")

    def sh(*cmd: str) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"

    sh(uv, "build", "--wheel", "--out-dir", str(tmp / "dist"), str(ROOT))
    (wheel,) = (tmp / "dist").glob("hotshard-*.whl")
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
