"""Bad input never ends in a traceback: one line saying what happened, and the right exit status.
Every subcommand is fed bad input in-process through the real entry point. Also: the analysis
output is private, as the capture it comes from is."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.samples_fixture import SAMPLES

SAMPLE = str(SAMPLES / "hot-zset")


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder nothing can be created in: root ignores permission bits, not a read-only /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    try:
        os.rmdir(tempfile.mkdtemp(dir="/sys"))
    except OSError:
        return Path("/sys")
    pytest.skip("no read-only folder available to root here")


def one_line(capsys, argv: list[str]) -> tuple[int, str]:
    status = run(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert err.startswith("hotshard: ") and err.count("\n") == 1, err
    return status, err


# -- the cases of issue 14 ------------------------------------------------------------------
def test_out_in_a_read_only_folder(tmp_path, capsys):
    where = unwritable_folder(tmp_path)
    status, err = one_line(capsys, ["analyze", SAMPLE, "--out", str(where / "out"), "--quiet"])
    assert status == ExitStatus.USAGE
    assert "cannot create the output folder" in err and "choose an --out" in err


@pytest.mark.parametrize("since", ["1e400", "+inf", "-1e400", "nan", "1e300", "+1e400"])
def test_times_beyond_any_calendar(capsys, tmp_path, since):
    status, err = one_line(
        capsys, ["analyze", SAMPLE, "--out", str(tmp_path / "o"), "--since", since]
    )
    assert status == ExitStatus.USAGE
    assert f"--since {since!r}: not a usable time" in err
    assert not (tmp_path / "o").exists()


def test_a_window_outside_the_capture_says_so(capsys, tmp_path):
    out = str(tmp_path / "o")
    status, err = one_line(capsys, ["analyze", SAMPLE, "--out", out, "--since", "2099-01-01"])
    assert status == ExitStatus.USAGE
    assert "is after the end of the input" in err and "the input spans" in err
    assert "No client traffic" not in err
    status, err = one_line(capsys, ["analyze", SAMPLE, "--out", out, "--until", "2001-01-01"])
    assert "is before the start of the input" in err
    # A plain log has no manifest: its span comes from its lines.
    log = str(SAMPLES / "legacy" / "monitor.log.gz")
    status, err = one_line(capsys, ["analyze", log, "--out", out, "--since", "2099-01-01", "-q"])
    assert status == ExitStatus.USAGE and "is after the end of the input" in err


@pytest.mark.parametrize("top", ["-3", "0", "many"])
def test_top_must_be_a_positive_number(capsys, tmp_path, top):
    for command in (["analyze", SAMPLE, "--out", str(tmp_path / "o")], ["diff", SAMPLE, SAMPLE]):
        status, err = one_line(capsys, [*command, "--top", top])
        assert status == ExitStatus.USAGE
        assert "--top takes a whole number" in err


@pytest.mark.parametrize("tolerance", ["-1%", "150%", "lots"])
def test_tolerance_must_be_a_share(capsys, tmp_path, tolerance):
    command = ["analyze", SAMPLE, "--out", str(tmp_path / "o"), "--tolerance", tolerance]
    status, err = one_line(capsys, command)
    assert status == ExitStatus.USAGE
    assert "--tolerance takes a share" in err


# -- every subcommand, bad input ------------------------------------------------------------
def _bad_manifest(tmp_path: Path, text: str) -> str:
    folder = tmp_path / f"capture-{abs(hash(text))}"
    folder.mkdir()
    (folder / "manifest.json").write_text(text)
    return str(folder)


def bad_invocations(tmp_path: Path) -> list[list[str]]:
    out = str(tmp_path / "out")
    not_a_log = tmp_path / "notes.txt"
    not_a_log.write_text("hello\nworld\n")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    a_file = str(not_a_log)
    dead = "127.0.0.1:1"  # nothing listens: refused at once
    return [
        ["bogus-command"],
        ["analyze"],
        ["analyze", str(tmp_path / "missing.log"), "--out", out],
        ["analyze", a_file, "--out", out],
        ["analyze", str(empty_dir), "--out", out],
        ["analyze", _bad_manifest(tmp_path, "{not json"), "--out", out],
        ["analyze", _bad_manifest(tmp_path, json.dumps({"format_version": 99})), "--out", out],
        ["analyze", SAMPLE, "--out", a_file],
        ["analyze", SAMPLE, "--out", f"{a_file}/below"],
        ["analyze", SAMPLE, "--out", out, "--rules", str(tmp_path / "none.toml")],
        ["analyze", SAMPLE, "--out", out, "--since", "yesterday"],
        ["analyze", SAMPLE, "--out", out, "--since", "+soon"],
        ["analyze", SAMPLE, "--out", out, "--until", "0", "--since", "5"],
        ["analyze", SAMPLE, "--out", out, "--sqlite", "perhaps"],
        ["analyze", SAMPLE, "--out", out, "--bogus-flag", "1"],
        ["query"],
        ["query", "SELEC 1", "--db", str(tmp_path)],
        ["query", "SELECT 1", "--db", str(tmp_path / "nothing.db")],
        ["query", "SELECT 1", "--db", a_file],
        ["check", str(tmp_path / "missing")],
        ["check", a_file],
        ["check", SAMPLE, "--rules", a_file],
        ["check", SAMPLE, "--junit", f"{a_file}/below.xml"],
        ["diff", SAMPLE],
        ["diff", SAMPLE, str(tmp_path / "missing")],
        ["diff", SAMPLE, str(SAMPLES / "fixed"), "--out", f"{a_file}/below.md"],
        ["endpoints", "--endpoints", "nonsense"],
        ["endpoints", "--endpoints", dead],
        ["endpoints", "--endpoints", dead, "--tls", "sometimes"],
        ["capture", "--endpoints", dead, "-d", "-5"],
        ["capture", "--endpoints", dead, "-d", "nan"],
        ["capture", "--endpoints", dead, "-d", "inf"],
        ["capture", "--endpoints", dead, "-d", "soon"],
        ["capture", "--endpoints", dead, "--max-bytes", "1e400MB"],
        ["capture", "--endpoints", dead, "--max-bytes", "-5MB"],
        ["capture", "--endpoints", dead, "--max-omem", "lots"],
        ["capture", "--endpoints", dead, "--sizes-top", "-1"],
        ["capture", "--endpoints", dead, "--nodes", "some"],
        ["capture", "--endpoints", dead, "--compress", "rar"],
        ["capture", "--endpoints", dead, "--password-file", str(tmp_path / "no-such-file")],
        ["capture", "--endpoints", dead, "-d", "1", "--out", str(tmp_path / "cap")],
    ]


def test_every_subcommand_given_bad_input_says_one_thing_and_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a command writes by default lands here
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("HOTSHARD_PASSWORD", raising=False)
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    failures = []
    for argv in bad_invocations(tmp_path):
        status = run(argv)
        err = capsys.readouterr().err
        if status == ExitStatus.OK or "Traceback" in err or not err.strip():
            failures.append((argv, int(status), err[-600:]))
    assert not failures, "\n\n".join(f"{a}: exit {s}\n{e}" for a, s, e in failures)


# -- private outputs ------------------------------------------------------------------------
def test_the_analysis_output_is_private(tmp_path, capsys):
    previous = os.umask(0o022)  # the usual umask: without care, files come out 0644
    try:
        out = tmp_path / "out"
        assert run(["analyze", SAMPLE, "--out", str(out), "--quiet"]) == ExitStatus.OK
        capsys.readouterr()
        # A rerun replaces the folder: still private.
        assert run(["analyze", SAMPLE, "--out", str(out), "--quiet"]) == ExitStatus.OK
    finally:
        os.umask(previous)
    modes = {}
    for root, dirs, files in os.walk(out):
        for name in [*dirs, *files]:
            path = Path(root) / name
            modes[str(path.relative_to(out))] = stat.S_IMODE(path.lstat().st_mode)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in ("report.md", "summary.json", "hotshard.db", "key_sizes.parquet"):
        assert modes[name] == 0o600, name
    parquet = [p for p in modes if p.endswith(".parquet") and p.startswith("commands")]
    assert parquet and all(modes[p] == 0o600 for p in parquet)
    folders = [p for p in modes if (out / p).is_dir()]
    assert folders and all(modes[p] == 0o700 for p in folders)
    assert all(m & 0o077 == 0 for m in modes.values()), modes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # nothing left over
    shutil.rmtree(out)


def test_a_bug_is_one_line_and_exit_1_with_the_stack_only_on_request(tmp_path, capsys, monkeypatch):
    """An exception outside the error family (a bug) reaches the user as one line and exit
    status 1; `--traceback` shows the real stack."""
    from hotshard.analyze.rows import make

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in the row path")

    monkeypatch.setattr(make, "_finish", broken)
    argv = ["analyze", str(SAMPLES / "hot-zset"), "--out", str(tmp_path / "o"), "--quiet"]
    assert run(argv) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError: a bug in the row path" in err
    assert "--traceback" in err
    assert run([*argv, "--traceback"]) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err
