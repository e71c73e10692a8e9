"""A mistyped flag or value is refused before anything connects or writes (exit 2, one line).

In-process through the real entry point. "Nothing connected": the cluster address is a listening
socket of this test, which must have no connection waiting afterwards. "Nothing written": the
command runs in an empty working directory, which must stay empty.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotshard.capture.cli import COMMANDS, run
from hotshard.capture.errors import ExitStatus

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _cases(addr: str) -> list[tuple[list[str], str]]:
    fixed, hot = str(SAMPLES / "fixed"), str(SAMPLES / "hot-zset")
    return [
        (["capture", "--endpoints", addr, "-d", "1", "--max-omen", "1MB"],
         "capture: unknown option --max-omen (did you mean --max-omem?)"),
        (["capture", "--endpoints", addr, "--max-omem", "1XB"], "--max-omem takes a size"),
        (["capture", "--endpoints", addr, "--nodes", "replica"], "--nodes takes one of"),
        (["capture", "--endpoints", addr, "--tls", "yes"], "--tls takes one of"),
        (["capture", "--endpoints", addr, "--save-to-db", "maybe"], "--save-to-db is a switch"),
        (["capture", "--endpoints", addr, "--tls_insecur"], "did you mean --tls-insecure?"),
        (["endpoints", "--endpoints", addr, "--jsn"], "endpoints: unknown option --jsn"),
        (["endpoints", "--endpoints", addr, "-x"], "endpoints: unknown option -x"),
        (["analyze", fixed, "--otu", "x"], "analyze: unknown option --otu (did you mean --out?)"),
        (["analyze", fixed, "--top", "ten"], "--top takes a whole number"),
        (["analyze", fixed, "--tolerance", "200%"], "--tolerance takes a share"),
        (["check", fixed, "--junt", "j.xml"], "check: unknown option --junt (did you mean --junit?)"),
        (["diff", fixed, hot, "--outt", "d.md"], "diff: unknown option --outt (did you mean --out?)"),
        (["diff", fixed, hot, "--top", "0"], "--top takes a whole number of at least 1"),
        (["query", "SELECT 1", "--dbb", "x"], "query: unknown option --dbb (did you mean --db?)"),
        (["query", "SELECT 1", "x", "y"], "query: unexpected argument 'y'"),
        (["plan", hot, "--gol", "2"], "plan: unknown option --gol (did you mean --goal?)"),
        (["plan", hot, "--goal", "0.5"], "--goal takes a finite number of at least 1"),
        (["analyse", fixed], "unknown command 'analyse' (did you mean analyze?)"),
    ]  # fmt: skip


def test_every_command_has_a_typo_case():
    assert {args[0] for args, _ in _cases("a:1")} >= set(COMMANDS)


@pytest.mark.parametrize("case", range(len(_cases("a:1"))))
def test_typo_is_refused_before_any_work(case, listener, empty_cwd, capsys):
    host, port = listener.getsockname()
    args, message = _cases(f"{host}:{port}")[case]
    status = run(args)
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    with pytest.raises(BlockingIOError):  # nothing connected
        listener.accept()
    assert os.listdir(empty_cwd) == []  # nothing written


def test_help_uses_the_readmes_dashes_and_no_fire_internals(capsys):
    assert run(["--help"]) == ExitStatus.OK
    overview = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in overview
    for name in COMMANDS:
        assert run([name, "--help"]) == ExitStatus.OK
        page = capsys.readouterr().out
        assert page.startswith(f"usage: hotshard {name}")
        for internal in ("GROUPS", "FIRE_METADATA", "NAME", "SYNOPSIS"):
            assert internal not in page
        assert "--tls_" not in page and "_" not in "".join(
            w for w in page.split() if w.startswith("--")
        )
    assert run(["capture", "-h"]) == ExitStatus.OK
    page = capsys.readouterr().out
    assert "--tls-insecure " in page and "-c, --cluster VALUE" in page


def test_a_good_command_line_still_runs(tmp_path, capsys):
    """The check refuses typos, not the forms fire accepts: `--flag=value`, `--noflag`, `_`."""
    out = tmp_path / "out"
    args = ["analyze", str(SAMPLES / "legacy" / "monitor.log.gz"), f"--out={out}", "--nosqlite"]
    assert run([*args, "--quiet", "--top", "5", "--shard", "0001"]) == ExitStatus.OK
    assert (out / "report.md").exists() and not (out / "hotshard.db").exists()
