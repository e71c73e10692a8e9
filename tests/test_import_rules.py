"""The two halves share only the capture folder's format (capture/format/): `capture` never
imports `analyze`, polars or pyarrow, not even lazily (the bastion install has none of them),
and `analyze` reaches `capture` only through the format, the error family and the version.

The folders `capture/` and `analyze/` install as `hotshard.capture` and `hotshard.analyze`
(pyproject.toml), and are imported only under those names."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
CAPTURE = ROOT / "capture"
ANALYZE = ROOT / "analyze"
# What analyze may take from capture: the format package, the error family, the version.
ANALYZE_MAY_USE = (
    "hotshard.capture.format",
    "hotshard.capture.errors",
    "hotshard.capture.__version__",
)
# Where each installed package lives in the repository.
FOLDERS = {"hotshard.capture": CAPTURE, "hotshard.analyze": ANALYZE}


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
    """The top-level package of each name; ours are `hotshard.capture` and `hotshard.analyze`."""
    return {
        ".".join(n.split(".")[:2]) if n.startswith("hotshard.") else n.split(".")[0] for n in names
    }


def _module(path: Path) -> str:
    """The installed name of a file in capture/ or analyze/: analyze/read/parse.py is
    `hotshard.analyze.read.parse`."""
    return "hotshard." + ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_capture_never_imports_analyze_polars_or_pyarrow():
    """The CLI is the one exception for `analyze`, which it reaches only when the user runs
    `analyze` and friends."""
    files = sorted(CAPTURE.rglob("*.py"))
    assert CAPTURE / "format" / "reader.py" in files
    for path in files:
        banned = {"hotshard.analyze", "polars", "pyarrow"} - (
            {"hotshard.analyze"} if path.name == "cli.py" else set()
        )
        found = _roots(_imports(path)) & banned
        assert not found, f"{path.relative_to(ROOT)} imports {found}"
    modules = ", ".join(_module(p) for p in files if p.stem != "__init__")
    code = f"import sys, {modules}\nbad = [m for m in ('polars', 'pyarrow', 'hotshard.analyze') if m in sys.modules]\nassert not bad, bad"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_analyze_reaches_capture_only_through_the_format_errors_and_version():
    for path in sorted(ANALYZE.rglob("*.py")):
        used = {n for n in _imports(path) if n.startswith("hotshard.capture.")}
        bad = {n for n in used if not n.startswith(ANALYZE_MAY_USE)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} from capture"


def test_the_format_needs_nothing_but_itself_errors_and_the_version():
    """The kernel stands alone: no capture module that talks to servers (redis, boto3)."""
    for path in sorted((CAPTURE / "format").rglob("*.py")):
        used = _imports(path)
        ours = {n for n in used if n.startswith("hotshard.capture.")}
        assert all(n.startswith(ANALYZE_MAY_USE) for n in ours), (path.name, ours)
        assert not _roots(used) & {"redis", "boto3", "botocore"}, (path.name, used)


def test_our_packages_are_imported_only_by_their_installed_names():
    """`import capture` would load a second copy of a module from the working directory (or
    someone else's package of that name from site-packages)."""
    files = [
        p
        for d in ("capture", "analyze", "tests", "bench", "samples")
        for p in (ROOT / d).rglob("*.py")
    ]
    for path in sorted(files):
        bare = _roots(_imports(path)) & {"capture", "analyze"}
        assert not bare, (
            f"{path.relative_to(ROOT)} imports {bare}: use hotshard.capture / hotshard.analyze"
        )


def test_the_wheel_lists_every_package_folder():
    """setuptools installs the packages pyproject.toml lists, no more: a new subfolder must be
    listed there or the wheel goes without it (the editable install would still find it)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {name: d.name for name, d in FOLDERS.items()}
    folders = {
        _module(init.parent / "x")[: -len(".x")]
        for d in FOLDERS.values()
        for init in d.rglob("__init__.py")
    }
    assert sorted(config["packages"]) == sorted(folders)
