"""Logs as they arrive from someone else's machine: a garbled timestamp, a clock stepped back,
NUL bytes, lines ending in a bare CR, a line of a gigabyte. Each is a real file analyzed by the
real command; the memory cases run it as a child process and measure its peak RSS (a child that
passes the ceiling is killed at once: the machine is shared)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import zstandard

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format.reader import MAX_LINE_BYTES

T0 = 1733412345.0
MIB = 1 << 20


def line(ts: float, i: int) -> str:
    return f'{ts:.6f} [0 10.0.0.1:5000] "GET" "key:{i % 50}"\n'


def write_log(path: Path, stamps: list[float]) -> Path:
    path.write_text("".join(line(ts, i) for i, ts in enumerate(stamps)))
    return path


def steady(n: int = 3000, step: float = 0.01, start: float = T0) -> list[float]:
    return [start + i * step for i in range(n)]


def analyze(capsys, out: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    status = run(["analyze", *map(str, inputs), "--out", str(out), "--quiet", *extra])
    return status, capsys.readouterr().err


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def health(out: Path) -> str:
    return (out / "report.md").read_text().split("## Health")[1].split("\n## ")[0]


def measured(argv: list[str], ceiling: int) -> tuple[int, int, str]:
    """Run `hotshard ARGV` as a child; (exit status, peak RSS in bytes, stderr). The child is
    killed as soon as its RSS passes `ceiling` (then the peak reported is above it)."""
    code = "import sys; from hotshard.capture.cli import run; sys.exit(int(run(sys.argv[1:])))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    child, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, child.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        if peak > ceiling:
            proc.kill()
            break
        time.sleep(0.02)
    _, status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    if usage is not None:  # the kernel's own count, exact, once the child is reaped
        peak = max(peak, usage.ru_maxrss * 1024)
        proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    return proc.returncode, peak, err


# Analyzing 3,000 lines costs about 270 MB (Polars, the plotting library); a garbled line must
# not add a multiple of that (a year of seconds was 1.3 GB, the year 3000 was killed at 24 GB).
CEILING = 600 * MIB


@pytest.mark.parametrize("outlier", [T0 + 365 * 86400, 32503680000.0, 0.000001])
def test_one_garbled_timestamp_bounds_nothing(tmp_path, outlier):
    stamps = steady()
    log = write_log(tmp_path / "app.log", [*stamps[:1500], outlier, *stamps[1500:]])
    out = tmp_path / "out"
    status, peak, err = measured(["analyze", str(log), "--out", str(out), "--quiet"], CEILING)
    assert peak <= CEILING, f"peak RSS {peak / MIB:.0f} MiB"
    assert status == ExitStatus.OK, err
    s = summary(out)
    assert s["window"]["duration_s"] == pytest.approx(30, abs=1.5)  # not a year
    assert s["commands"]["total"] == 3001  # the line still counts, only not in time
    assert all(i["end"] - i["start"] <= 60 for i in s["timeline"]["intervals"])
    note = health(out)
    assert "1 command(s) have timestamps far outside the rest of the data" in note
    assert "app.log" in note  # where


def test_a_timestamp_beyond_any_calendar_is_an_unparsable_line(tmp_path, capsys):
    stamps = steady()
    log = tmp_path / "app.log"
    log.write_text(
        "".join(line(ts, i) for i, ts in enumerate(stamps[:10]))
        + '1e300 [0 10.0.0.1:5000] "GET" "k"\n'
        + '-5 [0 10.0.0.1:5000] "GET" "k"\n'
    )
    status, err = analyze(capsys, tmp_path / "out", log)
    assert status == ExitStatus.OK, err
    stats = summary(tmp_path / "out")
    assert stats["commands"]["total"] == 10
    assert "| 12 | 10 | 0 | 2 |" in health(tmp_path / "out")


def test_a_clock_stepped_back_is_said_and_not_an_hour(tmp_path, capsys):
    first = [T0 + i * 0.005 for i in range(1500)]  # 7.5 s
    then = [T0 - 3600 + 7.5 + i * 0.005 for i in range(1500)]  # NTP stepped it back an hour
    log = write_log(tmp_path / "app.log", first + then)
    status, err = analyze(capsys, tmp_path / "out", log)
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "out")["window"]["duration_s"] == pytest.approx(15, abs=0.1)
    note = health(tmp_path / "out")
    assert "app.log: the node's clock went back 1h 00m 00s at line 1,501" in note


def test_commands_within_milliseconds_are_not_a_rate_per_millisecond(tmp_path, capsys):
    log = write_log(tmp_path / "app.log", [T0 + 0.5 + i * 0.00001 for i in range(200)])
    status, err = analyze(capsys, tmp_path / "out", log)
    assert status == ExitStatus.OK, err
    (interval,) = summary(tmp_path / "out")["timeline"]["intervals"]
    assert interval["end"] - interval["start"] >= 1.0  # 200 commands in that second, not 2 ms


# -- bytes that are not MONITOR text -----------------------------------------------------------
def test_a_nul_byte_in_a_line_is_data_not_a_failure(tmp_path, capsys):
    text = "".join(line(ts, i) for i, ts in enumerate(steady(100)))
    log = tmp_path / "app.log"
    log.write_bytes(b'1733412344.000000 [0 10.0.0.1:5000] "GET" "a\x00b"\n' + text.encode())
    status, err = analyze(capsys, tmp_path / "out", log)
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "out")["commands"]["total"] == 101
    assert "1 stray NUL byte(s) inside lines" in health(tmp_path / "out")


def test_a_copytruncate_hole_of_nuls_is_skipped_with_a_note(tmp_path, capsys):
    text = "".join(line(ts, i) for i, ts in enumerate(steady(100)))
    log = tmp_path / "app.log"
    log.write_bytes(b"\x00" * 70_000 + text.encode())
    status, err = analyze(capsys, tmp_path / "out", log)
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "out")["commands"]["total"] == 100
    assert "skipped 70,000 NUL bytes in 1 run(s)" in health(tmp_path / "out")


def test_lines_ending_in_a_bare_cr_are_read_as_lines(tmp_path, capsys):
    text = "".join(line(ts, i) for i, ts in enumerate(steady())).replace("\n", "\r")
    log = tmp_path / "app.log"
    log.write_bytes(text.encode())
    status, err = analyze(capsys, tmp_path / "out", log)
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "out")["commands"]["total"] == 3000
    assert "3,000 line(s) end in a bare carriage return" in health(tmp_path / "out")


# -- a line of a gigabyte ------------------------------------------------------------------------
# A long line's command: before its long argument, and after it.
LONG_LINES = {
    "SET": (b'"SET" "big" "', b'"'),
    "APPEND": (b'"APPEND" "big" "', b'"'),
    "MSET": (b'"MSET" "big" "', b'" "small" "v"'),
    "EVAL": (b'"EVAL" "return 1 -- ', b'" "1" "big"'),
}


def _huge_zst(path: Path, size: int, newline: bool, command: str = "SET") -> Path:
    """A .zst holding a few normal lines, then one `command` whose long argument is `size`
    bytes (tiny compressed)."""
    head = "".join(line(ts, i) for i, ts in enumerate(steady(50))).encode()
    before, after = LONG_LINES[command]
    cctx = zstandard.ZstdCompressor(level=3)
    with path.open("wb") as fh, cctx.stream_writer(fh) as w:
        w.write(head)
        w.write(b"1733412346.000000 [0 10.0.0.1:5000] " + before)
        block = b"x" * MIB
        for _ in range(size // MIB):
            w.write(block)
        if newline:
            w.write(after + b"\n")
            w.write(line(T0 + 2, 7).encode())
    return path


def _small_run(tmp_path: Path) -> int:
    """Peak RSS of analyzing the few normal lines alone."""
    small = _huge_zst(tmp_path / "small.monitor.zst", 0, newline=True)
    status, base, err = measured(
        ["analyze", str(small), "--out", str(tmp_path / "small"), "--quiet"], CEILING
    )
    assert status == ExitStatus.OK, err
    return base


def test_a_gigabyte_line_without_newline_is_skipped_in_bounded_memory(tmp_path):
    base = _small_run(tmp_path)
    log = _huge_zst(tmp_path / "app.monitor.zst", 1024 * MIB, newline=False)
    assert log.stat().st_size < 200_000
    out = tmp_path / "out"
    # A line too long is held up to the limit, then dropped piece by piece.
    limit = base + MAX_LINE_BYTES + 64 * MIB
    status, peak, err = measured(["analyze", str(log), "--out", str(out), "--quiet"], limit)
    assert peak <= limit, f"peak RSS {(peak - base) / MIB:.0f} MiB over a small run"
    assert status == ExitStatus.OK, err
    assert summary(out)["commands"]["total"] == 50
    assert f"skipped 1 line(s) longer than {MAX_LINE_BYTES:,} bytes (--max-line-bytes)" in health(
        out
    )


# A line under --max-line-bytes is parsed whole: a SET's value measured ~1.8x its length above
# a small run (docs/BENCHMARKS.md, "A long line"; it was ~7-8x while the value was copied, and
# 5.8x for an APPEND's or MSET's while only fast writes' values were placeholders).
LINE_MULTIPLE = 3


@pytest.mark.parametrize("command", list(LONG_LINES))
def test_a_long_line_under_the_limit_costs_a_bounded_multiple_of_itself(tmp_path, command):
    size = 64 * MIB
    small = _huge_zst(tmp_path / "small.monitor.zst", 0, newline=True)
    status, base, err = measured(
        ["analyze", str(small), "--out", str(tmp_path / "o1"), "--quiet"], CEILING
    )
    assert status == ExitStatus.OK, err
    log = _huge_zst(tmp_path / "long.monitor.zst", size, newline=True, command=command)
    limit = base + LINE_MULTIPLE * size
    status, peak, err = measured(
        ["analyze", str(log), "--out", str(tmp_path / "o2"), "--quiet"], limit
    )
    assert peak - base <= LINE_MULTIPLE * size, f"{(peak - base) / size:.1f}x the line"
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "o2")["commands"]["total"] == 52  # the long line parsed, not skipped


def test_a_long_complete_line_over_the_limit_is_skipped_and_the_rest_read(tmp_path, capsys):
    log = _huge_zst(tmp_path / "app.monitor.zst", 8 * MIB, newline=True)
    status, err = analyze(capsys, tmp_path / "out", log, extra=("--max-line-bytes", "1MiB"))
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "out")["commands"]["total"] == 51  # the line after it too
    assert "skipped 1 line(s) longer than 1,048,576 bytes" in health(tmp_path / "out")
    # Under the limit it is a command like any other.
    status, err = analyze(capsys, tmp_path / "all", log)
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "all")["commands"]["total"] == 52


# -- outputs and folders ---------------------------------------------------------------------
SAMPLE = Path(__file__).parents[2] / "samples" / "hot-zset"


def one_line_refusal(capsys, argv: list[str]) -> str:
    status = run(argv)
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_an_out_holding_its_input_is_refused_and_the_input_kept(tmp_path, capsys):
    out = tmp_path / "out"
    log = write_log(tmp_path / "app.log", steady(100))
    assert run(["analyze", str(log), "--out", str(out), "--quiet"]) == ExitStatus.OK
    inside = out / "app.log"  # the user keeps the log beside the report, and runs it again
    inside.write_bytes(log.read_bytes())
    err = one_line_refusal(capsys, ["analyze", str(inside), "--out", str(out), "--quiet"])
    assert "holds the input" in err
    assert inside.read_bytes() == log.read_bytes()
    # A capture folder inside the output: the same.
    capture = Path(shutil.copytree(SAMPLE, out / "cap"))
    err = one_line_refusal(capsys, ["analyze", str(capture), "--out", str(out), "--quiet"])
    assert "holds the input" in err and (capture / "manifest.json").is_file()
    # An output inside a capture folder would write into the capture.
    err = one_line_refusal(capsys, ["analyze", str(capture), "--out", str(capture / "o")])
    assert "is inside the input" in err and not (capture / "o").exists()


def test_a_refused_analysis_leaves_no_folder_behind(tmp_path, capsys):
    missing = tmp_path / "no-such.log"
    err = one_line_refusal(capsys, ["analyze", str(missing), "--out", str(tmp_path / "a" / "b")])
    assert "no-such.log" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither a/ nor a lock file


def test_capture_save_to_db_into_its_own_capture_is_refused_before_capturing(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hotshard-out").mkdir()
    err = one_line_refusal(
        capsys,
        [
            "capture",
            "--endpoints",
            "127.0.0.1:1",  # never reached: refused before any connection
            "--out",
            "hotshard-out/cap3",
            "--duration",
            "1",
            "--save-to-db",
        ],
    )
    assert "overlap" in err and not (tmp_path / "hotshard-out" / "cap3").exists()


def test_two_analyses_into_one_out_one_refuses(tmp_path):
    out = tmp_path / "out"
    code = "import sys; from hotshard.capture.cli import run; sys.exit(int(run(sys.argv[1:])))"
    argv = [sys.executable, "-c", code, "analyze", str(SAMPLE), "--out", str(out), "--quiet"]
    root = Path(__file__).parents[2]
    procs = [
        subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode() if p.stderr else "") for p in procs]
    assert sorted(status for status, _ in results) == [ExitStatus.OK, ExitStatus.USAGE], results
    (refusal,) = [err for status, err in results if status == ExitStatus.USAGE]
    assert "another hotshard analyze is writing this folder now" in refusal
    assert summary(out)["commands"]["total"] > 0
    assert not (tmp_path / ".out.lock").exists()


def test_a_held_out_lock_is_a_clear_refusal(tmp_path, capsys):
    out = tmp_path / "out"
    with (tmp_path / ".out.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running analysis holds
        err = one_line_refusal(capsys, ["analyze", str(SAMPLE), "--out", str(out)])
    assert "another hotshard analyze is writing" in err and not out.exists()


# -- a capture folder from someone else --------------------------------------------------------
def hostile_copy(tmp_path: Path, edit) -> Path:
    folder = Path(shutil.copytree(SAMPLE, tmp_path / "cap"))
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    edit(data, folder)
    path.write_text(json.dumps(data))
    return folder


def _node_file(data: dict, value: str) -> None:
    next(n for n in data["nodes"] if n.get("file"))["file"] = value


@pytest.mark.parametrize(
    "edit",
    [
        lambda d, f: _node_file(d, "/etc/passwd"),
        lambda d, f: _node_file(d, "../../../../../../etc/passwd"),
        lambda d, f: d.update(key_sizes_file="/etc/passwd"),
        lambda d, f: d.update(commands_file="../outside.json"),
        # A symlink inside the folder that points out of it.
        lambda d, f: (
            (f / "link.monitor").symlink_to("/etc/passwd"),
            _node_file(d, "link.monitor"),
        ),
    ],
    ids=["absolute", "dotdot", "key_sizes", "commands", "symlink"],
)
def test_a_manifest_naming_files_outside_its_folder_is_refused(tmp_path, capsys, edit):
    folder = hostile_copy(tmp_path, edit)
    err = one_line_refusal(capsys, ["analyze", str(folder), "--out", str(tmp_path / "o")])
    assert "outside the capture folder" in err
    assert not (tmp_path / "o").exists()


def test_one_file_named_by_three_nodes_is_refused(tmp_path, capsys):
    def edit(data, folder):
        name = next(n["file"] for n in data["nodes"] if n.get("file"))
        for n in data["nodes"]:
            if n.get("file"):
                n["file"] = name

    err = one_line_refusal(
        capsys, ["analyze", str(hostile_copy(tmp_path, edit)), "--out", str(tmp_path / "o")]
    )
    assert "name the same file" in err


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d, f: d.update(started_at="yesterday"), "started_at"),
        (lambda d, f: d.update(nodes={"a": 1}), "nodes"),
        (lambda d, f: d["nodes"][0].update(errors="abc"), "errors"),
        (lambda d, f: d.update(ended_at=d["started_at"] - 10), "ended_at is before started_at"),
        (lambda d, f: d.update(warnings=[1, 2]), "warnings"),
        (lambda d, f: d["nodes"][0].update(port="6379"), "port"),
    ],
    ids=["started_at", "nodes", "errors", "ended_before", "warnings", "port"],
)
def test_manifest_fields_of_the_wrong_type_are_one_bad_input(tmp_path, capsys, edit, field):
    folder = hostile_copy(tmp_path, edit)
    err = one_line_refusal(capsys, ["analyze", str(folder), "--out", str(tmp_path / "o")])
    assert "malformed manifest" in err and field in err and "internal error" not in err


def test_control_characters_in_a_manifest_reach_nobody_raw(tmp_path, capsys):
    evil = "\x1b]0;pwned\x07\x1b[2J\rfake line\nhotshard: all good"

    def edit(data, folder):
        data["warnings"] = [evil]
        data["status"] = "partial" + evil
        data["nodes"][0]["errors"] = [evil]

    folder = hostile_copy(tmp_path, edit)
    out = tmp_path / "o"
    status = run(["analyze", str(folder), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == ExitStatus.OK, captured.err
    for text in (captured.err, captured.out, (out / "report.md").read_text()):
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert "\nhotshard: all good" not in text
    assert "\\x1b]0;pwned" in captured.err


# -- check and diff on what someone damaged ------------------------------------------------------
@pytest.fixture
def plain_analysis(tmp_path) -> Path:
    out = tmp_path / "analysis"
    log = write_log(tmp_path / "app.log", steady(200))
    assert run(["analyze", str(log), "--out", str(out), "--quiet", "--nosqlite"]) == ExitStatus.OK
    return out


@pytest.mark.parametrize(
    "damage",
    [
        lambda out: (out / "summary.json").write_text('{"window": "x", "hot_shard": "abc"}'),
        lambda out: (out / "summary.json").write_text("[1, 2]"),
        lambda out: next((out / "commands").rglob("*.parquet")).write_bytes(b"PAR1 junk" * 50),
    ],
    ids=["summary-types", "summary-list", "junk-parquet"],
)
def test_check_and_diff_on_a_damaged_analysis_are_bad_input(
    plain_analysis, tmp_path, capsys, damage
):
    good = Path(shutil.copytree(plain_analysis, tmp_path / "good"))
    damage(plain_analysis)
    for argv in (
        ["check", str(plain_analysis)],
        ["diff", str(good), str(plain_analysis)],
        ["diff", str(plain_analysis), str(good)],
    ):
        status = run(argv)
        captured = capsys.readouterr()
        assert status == ExitStatus.USAGE, (argv, captured.err)  # not 1: "a rule is broken"
        assert captured.err.count("\n") == 1 and "internal error" not in captured.err


@pytest.mark.parametrize(
    "rules, said",
    [
        ("[key_rate]\nmax_ops_per_s = nan\n", "max_ops_per_s = nan"),
        ("[shard_skew]\nmax_ratio = true\n", "max_ratio = True"),
        ('[forbidden_commands]\ncommands = "keys"\n', "a list of command names"),
        ("[pattern_share]\nmax_share = 1.5\n", "from 0 to 1"),
        ("[full_range_read]\nmax_members = -1\n", "a whole number"),
        ('[key_rate]\nmax_ops_per_s = "5000"\n', "a number"),
    ],
)
def test_rule_values_that_would_pass_everything_are_refused(
    plain_analysis, tmp_path, capsys, rules, said
):
    path = tmp_path / "rules.toml"
    path.write_text(rules)
    status = run(["check", str(plain_analysis), "--rules", str(path)])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert said in err and err.count("\n") == 1


def test_a_rule_the_input_cannot_judge_is_not_judged_not_passed(plain_analysis, tmp_path, capsys):
    status = run(["check", str(plain_analysis), "--junit", str(tmp_path / "j.xml")])
    out = capsys.readouterr().out
    assert status == ExitStatus.OK
    assert "not judged (the input cannot tell)" in out.splitlines()[0]
    for rule in ("pattern_share", "shard_skew", "balance", "estimate_accuracy"):
        (row,) = [r for r in out.splitlines() if r.startswith(f"| `{rule}`")]
        assert "not judged" in row and "pass" not in row
    (row,) = [r for r in out.splitlines() if r.startswith("| `forbidden_commands`")]
    assert "✅ pass" in row  # this one the log can judge
    assert 'skipped="4"' in (tmp_path / "j.xml").read_text()
    # The gate decides: --fail-unjudged fails the build on it.
    status = run(["check", str(plain_analysis), "--fail-unjudged"])
    err = capsys.readouterr().err
    assert status == ExitStatus.ERROR and "4 rule(s) not judged" in err
