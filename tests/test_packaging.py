"""The wheel is ready to publish: it builds, carries its metadata, both halves and their data,
and nothing of the repository that is not the program."""

from __future__ import annotations

import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    command = ["uv", "build", "--wheel", "--out-dir", str(out), str(ROOT)]
    # The build backend is in uv's cache once `uv sync` installed the project; the index only
    # when it is not (a machine without network, or a fresh CI runner).
    done = subprocess.run([*command, "--offline"], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("hotshard-*-py3-none-any.whl")
    return built


def test_wheel_metadata_is_complete(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(info).decode())
        entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert meta["Name"] == "hotshard"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().startswith("# hotshard")  # the README is the long description
    classifiers = meta.get_all("Classifier") or []
    assert "Environment :: Console" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert meta.get_all("Provides-Extra") == ["analyze"]
    requires = meta.get_all("Requires-Dist") or []
    base = [r for r in requires if "extra ==" not in r]
    assert not any(r.startswith(("polars", "pyarrow")) for r in base)  # the bastion install
    assert "hotshard = hotshard.capture.cli:main" in entry_points


def test_wheel_holds_the_program_and_nothing_else(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "hotshard/capture/cli.py" in names
    assert "hotshard/analyze/render/report.py" in names
    assert "hotshard/analyze/data/check_rules.toml" in names
    assert not [
        n for n in names if n.startswith(("tests/", "samples/", "bench/", "hotshard/tests"))
    ]
