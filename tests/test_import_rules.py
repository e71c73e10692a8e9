"""The two halves share only the capture folder's format (capture/format/): `capture` never
imports `analyze`, polars or pyarrow, not even lazily (the bastion install has none of them),
and `analyze` reaches `capture` only through the format, the error family and the version."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CAPTURE = ROOT / "capture"
ANALYZE = ROOT / "analyze"
# What analyze may take from capture: the format package, the error family, the version.
ANALYZE_MAY_USE = ("capture.format", "capture.errors", "capture.__version__")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (lazily), with the names
    it takes from a package (`from capture import x` is `capture.x`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_capture_never_imports_analyze_polars_or_pyarrow():
    """The CLI is the one exception for `analyze`, which it reaches only when the user runs
    `analyze` and friends."""
    files = sorted(CAPTURE.rglob("*.py"))
    assert CAPTURE / "format" / "reader.py" in files
    for path in files:
        banned = {"analyze", "polars", "pyarrow"} - (
            {"analyze"} if path.name == "cli.py" else set()
        )
        found = _roots(_imports(path)) & banned
        assert not found, f"{path.relative_to(ROOT)} imports {found}"
    modules = ", ".join(
        ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in files if p.stem != "__init__"
    )
    code = f"import sys, {modules}\nbad = [m for m in ('polars', 'pyarrow', 'analyze') if m in sys.modules]\nassert not bad, bad"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_analyze_reaches_capture_only_through_the_format_errors_and_version():
    for path in sorted(ANALYZE.rglob("*.py")):
        used = {n for n in _imports(path) if n.split(".")[0] == "capture"}
        bad = {n for n in used if not n.startswith(ANALYZE_MAY_USE)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} from capture"


def test_the_format_needs_nothing_but_itself_errors_and_the_version():
    """The kernel stands alone: no capture module that talks to servers (redis, boto3)."""
    for path in sorted((CAPTURE / "format").rglob("*.py")):
        used = _imports(path)
        ours = {n for n in used if n.split(".")[0] == "capture"}
        assert all(n.startswith(ANALYZE_MAY_USE) for n in ours), (path.name, ours)
        assert not _roots(used) & {"redis", "boto3", "botocore"}, (path.name, used)
