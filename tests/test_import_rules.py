"""The two halves share only the capture folder's format (capture/format/): `capture` never
imports `analyze`, polars or pyarrow, not even lazily (the bastion install has none of them),
and `analyze` reaches `capture` only through the format, the error family and the version.

The folders `capture/` and `analyze/` install as `hotshard.capture` and `hotshard.analyze`
(pyproject.toml), and are imported only under those names.

`analyze/` is laid out by stage, in the order the data flows (README, "Architecture"): a stage
imports only the stages before it and the vocabulary modules at the top, which import no stage;
no module reaches back to itself through others (no import circle, lazy imports included)."""

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
# analyze/'s stages in the order the data flows through them.
STAGES = ("read", "keys", "estimate", "rows", "store", "measure", "findings", "render", "commands")
# The words every stage may use: analyze/errors.py, schema.py, humanize.py, sparse.py; and
# allocator.py, the package's own set-up before Polars loads (it imports no stage).
VOCABULARY = ("errors", "schema", "humanize", "sparse", "allocator")
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


def _analyze_modules() -> dict[str, Path]:
    """Installed name -> file, for every module of analyze/ (packages by their __init__)."""
    out = {}
    for path in sorted(ANALYZE.rglob("*.py")):
        if "native" in path.relative_to(ANALYZE).parts:
            continue
        name = _module(path)
        out[name.removesuffix(".__init__")] = path
    return out


def _analyze_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The analyze modules a file imports (`from hotshard.analyze.read import parse` is the
    module `hotshard.analyze.read.parse`; `from ...parse import Source` is `...parse`)."""
    out = set()
    for name in _imports(path):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name.startswith("hotshard.analyze") and name != "hotshard.analyze":
            out.add(name)
    return out


def _stage(module: str) -> str:
    """`hotshard.analyze.read.parse` -> `read`; a vocabulary module -> its own name."""
    return module.split(".")[2]


def test_analyze_has_the_stage_folders_and_vocabulary_modules_only():
    folders = {p.name for p in ANALYZE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(STAGES)
    top = {p.stem for p in ANALYZE.glob("*.py")} - {"__init__"}
    assert top == set(VOCABULARY)


def _graph() -> dict[str, set[str]]:
    """analyze module -> the analyze modules it imports (itself left out)."""
    modules = _analyze_modules()
    return {name: _analyze_imports(path, modules) - {name} for name, path in modules.items()}


def _backward(graph: dict[str, set[str]]) -> list[str]:
    """Every import against the stage order: a later stage, or a stage from the vocabulary."""
    bad = []
    for name, used_all in sorted(graph.items()):
        if name == "hotshard.analyze":
            continue
        here = _stage(name)
        for used in sorted(used_all):
            there = _stage(used)
            if here in VOCABULARY:
                ok = there in VOCABULARY
            else:
                ok = there in VOCABULARY or STAGES.index(there) <= STAGES.index(here)
            if not ok:
                bad.append(f"{name} ({here}) imports {used} ({there})")
    return bad


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the path being followed, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for used in sorted(graph.get(name, ())):
            if state.get(used) == 1:
                return [*path[path.index(used) :], used]
            if used not in state and (found := visit(used)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (circle := visit(name)):
            return circle
    return None


def test_a_stage_imports_only_the_stages_before_it_and_the_vocabulary():
    bad = _backward(_graph())
    assert not bad, "\n".join(bad)


def test_no_import_circle_in_analyze():
    """Lazy imports count: a function-level import that closes a circle is a circle still."""
    circle = _circle(_graph())
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_rules_catch_a_backward_import_and_a_circle():
    """The two checks above on the circle this layout removed (findings <-> render/charts)."""
    graph = _graph()
    graph["hotshard.analyze.findings.found"].add("hotshard.analyze.render.charts")
    assert _backward(graph) == [
        "hotshard.analyze.findings.found (findings) imports hotshard.analyze.render.charts (render)"
    ]
    circle = _circle(graph)
    assert circle is not None and "hotshard.analyze.render.charts" in circle
    assert _circle({"a.b.c": {"a.b.d"}, "a.b.d": set()}) is None
