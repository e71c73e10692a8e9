"""`hotshard analyze` end to end: real log files (plain, .gz, .zst), a capture folder, the CLI."""

from __future__ import annotations

import gzip
import json
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import zstandard

from hotshard.analyze import schema
from hotshard.analyze.store import dataset
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format import lines
from hotshard.capture.format import manifest as mf

T0 = 1_760_700_000.0
HOT = "large_sortedset:app:2025-10-17"


def line(ts: float, client: str, *args: bytes | str, db: int = 0) -> str:
    """A MONITOR line exactly as Redis prints it (sdscatrepr quoting)."""
    quoted = " ".join(
        f'"{lines.escape_bytes(a if isinstance(a, bytes) else a.encode())}"' for a in args
    )
    return f"{ts:.6f} [{db} {client}] {quoted}"


def shard_lines(shard: str, n: int = 30, start: float = T0) -> list[str]:
    """Traffic of one shard: the hot zset read whole on 0001, GETs and HGETALLs elsewhere."""
    out = []
    for i in range(n):
        ts = start + i * 0.5
        client = f"10.0.9.{int(shard)}:{5000 + i % 3}"
        if shard == "0001" and i % 3 == 0:
            out.append(line(ts, client, "ZREVRANGE", HOT, "0", "-1"))
        elif i % 5 == 0:
            out.append(line(ts, client, "HGETALL", f"session:{shard}:{i % 4}"))
        else:
            out.append(line(ts, client, "GET", f"user:{shard}:{i % 7}"))
    return out


def write_log(path: Path, lines: list[str], resp: bool = False) -> Path:
    """`redis-cli monitor > file` style (leading OK), or the raw RESP form a capture writes."""
    if resp:
        text = "+OK\r\n" + "".join(f"+{ln}\r\n" for ln in lines)
    else:
        text = "OK\n" + "".join(f"{ln}\n" for ln in lines)
    data = text.encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def capture_folder(root: Path, truncate: bool = False) -> Path:
    """A 3-shard capture: replicas monitored, one of them sees replicated writes and a script."""
    folder = root / "capture"
    folder.mkdir()
    nodes, shards = [], []
    for i, shard in enumerate(("0001", "0002", "0003"), 1):
        host, primary = f"10.0.0.{i}", f"10.0.0.{10 + i}:6379"
        name = mf.monitor_file_name(shard, "replica", host, 6379, "zstd")
        lines = shard_lines(shard)
        if shard == "0003":
            lines += [
                line(T0 + 20, primary, "SET", "user:0003:1", "v", "PXAT", "1760703600000"),
                line(T0 + 21, primary, "PING"),
                line(T0 + 22, "10.0.9.3:5000", "EVALSHA", "abc", "1", "user:0003:2"),
                line(T0 + 22, "lua", "get", "user:0003:2"),
            ]
        path = write_log(folder / name, lines, resp=True)
        if truncate and shard == "0002":
            data = zstandard.ZstdDecompressor().decompress(path.read_bytes())
            path.write_bytes(zstandard.ZstdCompressor().compress(data + b"+1760700099.0 [0 10.0"))
        nodes.append(
            mf.NodeCapture(
                node=f"{host}:6379",
                host=host,
                port=6379,
                role="replica",
                shard=shard,
                primary_node=primary,
                server_version="7.0.15",
                monitored=True,
                file=name,
                compression="zstd",
                started_at=T0,
                ended_at=T0 + 30,
            )
        )
        shards.append(mf.ShardInfo(shard=shard, nodes=[primary, f"{host}:6379"], primary=primary))
    m = mf.Manifest(
        cluster="demo",
        started_at=T0,
        ended_at=T0 + 30,
        status="complete",
        nodes=nodes,
        shards=shards,
        warnings=["reads on 10.0.0.11:6379 (primary) are not captured"],
    )
    mf.write_key_sizes(
        folder,
        m,
        [
            mf.KeySize(
                node="10.0.0.1:6379",
                key=HOT,
                type="zset",
                cardinality=100_000,
                sample_n=1000,
                avg_member_len=28.0,
                avg_score_len=17.0,
            ),
        ],
    )
    mf.write(folder, m)
    return folder


def analyze(capsys, *args: str) -> tuple[int, str, str]:
    status = run(["analyze", *args, "--quiet"])
    out, err = capsys.readouterr()
    return status, out, err


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


# -- plain logs ------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".log", ".log.gz", ".log.zst"])
def test_plain_logs(tmp_path, capsys, suffix):
    log = write_log(tmp_path / f"monitor{suffix}", shard_lines("0001"))
    out = tmp_path / "out"
    status, stdout, _ = analyze(capsys, str(log), "--shard", "0001", "--out", str(out))
    assert status == ExitStatus.OK
    assert "30 commands" in stdout and "Report:" in stdout
    s = summary(out)
    assert s["lines"] == {
        "total": 31,
        "parsed": 30,
        "skipped": 1,
        "errors": 0,
        "truncated_files": 0,
    }
    assert s["shards"][0]["shard"] == "0001"
    assert s["hot_shard"]["status"] == "single"
    assert s["top_keys"][0]["key"] == HOT
    conn = sqlite3.connect(out / "hotshard.db")
    q = (
        "SELECT key_name, COUNT(*) AS count FROM commands WHERE command = 'zrevrange' "
        "AND shard LIKE '%0001%' GROUP BY key_name ORDER BY count DESC"
    )
    assert conn.execute(q).fetchall() == [(HOT, 10)]
    conn.close()
    assert (out / "report.md").read_text().startswith("# hotshard report")


def test_plain_gz_zst_give_the_same_results(tmp_path, capsys):
    results = []
    for suffix in (".log", ".log.gz", ".log.zst"):
        logs = [
            write_log(tmp_path / f"{shard}{suffix}", shard_lines(shard))
            for shard in ("0001", "0002")
        ]
        out = tmp_path / f"out{suffix}"
        status, _, _ = analyze(capsys, *map(str, logs), "--shard", "0001,0002", "--out", str(out))
        assert status == ExitStatus.OK
        s = summary(out)
        s.pop("inputs")
        for node in s["nodes"]:
            node.pop("node")
        results.append(s)
    assert results[0] == results[1] == results[2]


# -- capture folder ------------------------------------------------------------------------
def test_capture_folder(tmp_path, capsys):
    folder = capture_folder(tmp_path)
    out = tmp_path / "out"
    status, _stdout, _ = analyze(capsys, str(folder), "--out", str(out))
    assert status == ExitStatus.OK
    s = summary(out)
    assert [n["node"] for n in s["nodes"]] == ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"]
    assert {n["role"] for n in s["nodes"]} == {"replica"}
    assert s["commands"]["replicated"] == 2  # the primary's SET and PING on the replica
    assert s["commands"]["script"] == 1
    assert s["commands"]["client"] == 91
    assert s["hot_shard"]["shard"] == "0001"
    assert "reads on 10.0.0.11:6379 (primary) are not captured" in s["warnings"]
    report = (out / "report.md").read_text()
    assert "Shard 0001 is hot" in report.splitlines()[2]
    assert "reads on 10.0.0.11:6379 (primary) are not captured" in report
    # Parquet: one folder per shard, the exact schema.
    assert sorted(p.name for p in (out / "commands").iterdir()) == [
        "shard=0001",
        "shard=0002",
        "shard=0003",
    ]
    df = pl.read_parquet(sorted((out / "commands").rglob("*.parquet")), hive_partitioning=False)
    # The low-cardinality strings are stored dictionary-encoded; read back, the exact schema.
    stored = {
        c: pl.Categorical() if c in schema.DICTIONARY else t for c, t in schema.COMMANDS.items()
    }
    assert df.schema == pl.Schema(stored)
    assert df.height == 94
    found = dataset.read(out)
    assert found.rows.collect_schema() == pl.Schema(schema.COMMANDS)
    assert found.sources.rows() == [
        (
            f"{shard}-replica-10.0.0.{int(shard)}_6379.monitor.zst",
            f"10.0.0.{int(shard)}:6379",
            shard,
            "replica",
        )
        for shard in ("0001", "0002", "0003")
    ]
    wide = found.wide().collect()
    assert wide.height == 94 and wide.columns == list(dataset.WIDE_COLUMNS)
    assert wide["key_id"].drop_nulls().max() == found.keys.height - 1


def test_deterministic_outputs(tmp_path, capsys):
    folder = capture_folder(tmp_path)
    texts = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert analyze(capsys, str(folder), "--out", str(out))[0] == ExitStatus.OK
        texts.append(((out / "report.md").read_bytes(), (out / "summary.json").read_bytes()))
    assert texts[0] == texts[1]
    assert str(tmp_path).encode() not in texts[0][0] + texts[0][1]


def test_truncated_capture_is_reported_not_fatal(tmp_path, capsys):
    folder = capture_folder(tmp_path, truncate=True)
    out = tmp_path / "out"
    assert analyze(capsys, str(folder), "--out", str(out))[0] == ExitStatus.OK
    s = summary(out)
    assert s["lines"]["truncated_files"] == 1
    report = (out / "report.md").read_text()
    health = report.split("## Health", 1)[1].split("## Shards", 1)[0]
    assert "| yes |" in health


@pytest.mark.parametrize(
    "window", [[], ["--since", "+0"]], ids=["counted-while-parsing", "upfront"]
)
def test_a_damaged_zstd_frame_loses_only_its_lines(tmp_path, capsys, window):
    """A bit-rotted zstd file (not a truncated one: its frames look whole) is analyzed around
    the damaged frame, with a warning that says where; a plain log beside it is read in full.
    Also when a window relative to the first line makes the health pass run first."""
    lines = shard_lines("0001", n=4000)
    text = ("OK\n" + "".join(f"{ln}\n" for ln in lines)).encode()
    # Small frames, as a capture flushes them; garbage in the middle of one frame's content.
    step = 20_000
    frames = [
        zstandard.ZstdCompressor().compress(text[i : i + step]) for i in range(0, len(text), step)
    ]
    middle = len(frames) // 2
    bad = bytearray(frames[middle])
    for i in range(len(bad) // 3, len(bad) // 3 + 64):
        bad[i] ^= 0x5A
    frames[middle] = bytes(bad)
    damaged = tmp_path / "a.monitor.zst"
    damaged.write_bytes(b"".join(frames))
    whole = write_log(tmp_path / "b.log", shard_lines("0001", n=100))
    out = tmp_path / "out"
    args = [str(damaged), str(whole), "--shard", "0001", "--out", str(out), *window]
    status, _, err = analyze(capsys, *args)
    assert status == ExitStatus.OK
    assert "1 damaged zstd frame(s) skipped" in err
    s = summary(out)
    parsed = pl.read_parquet(out / "commands").group_by("source").len().sort("source").rows()
    assert parsed[1] == ("b.log", 100)
    # All but the damaged frame's lines (and the two it cuts at its edges).
    lost = text[middle * step : (middle + 1) * step].count(b"\n") + 2
    assert parsed[0][0] == "a.monitor.zst"
    assert len(lines) - lost <= parsed[0][1] < len(lines)
    assert s["lines"]["parsed"] == parsed[0][1] + 100
    assert "damaged zstd frame(s) skipped" in (out / "report.md").read_text()


def test_a_log_without_one_command_still_gives_every_output(tmp_path, capsys):
    """Nothing parses (the wrong file, say): the outputs exist and say so, SQLite included."""
    log = tmp_path / "notes.txt"
    log.write_text("OK\nthis is not MONITOR output\nneither is this\n")
    out = tmp_path / "out"
    assert analyze(capsys, str(log), "--out", str(out))[0] == ExitStatus.OK
    s = summary(out)
    assert (s["lines"]["parsed"], s["lines"]["errors"]) == (0, 2)
    with sqlite3.connect(out / "hotshard.db") as conn:
        assert conn.execute("SELECT count(*) FROM commands").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM clients").fetchone() == (0,)


# -- options ---------------------------------------------------------------------------------
def test_time_window(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0001", n=40))  # T0 .. T0+19.5
    out = tmp_path / "out"
    assert analyze(capsys, str(log), "--out", str(out), "--since", "+5", "--until", "+10")[0] == 0
    s = summary(out)
    assert s["commands"]["total"] == 10  # ts in [T0+5, T0+10)
    assert s["window"]["since"] == T0 + 5 and s["window"]["until"] == T0 + 10
    assert s["window"]["duration_s"] == 5
    iso = "2025-10-17T11:20:05Z"  # T0 + 5
    assert analyze(capsys, str(log), "--out", str(out), "--since", iso)[0] == 0
    assert summary(out)["commands"]["total"] == 30
    assert analyze(capsys, str(log), "--out", str(out), "--since", str(T0 + 19))[0] == 0
    assert summary(out)["commands"]["total"] == 2


def test_top_and_nosqlite(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0002"))
    out = tmp_path / "out"
    assert analyze(capsys, str(log), "--out", str(out), "--top", "3", "--nosqlite")[0] == 0
    assert not (out / "hotshard.db").exists()
    assert len(summary(out)["top_keys"]) == 3


def test_rerun_replaces_the_output(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0001"))
    out = tmp_path / "out"
    assert analyze(capsys, str(log), "--out", str(out))[0] == 0
    (out / "stale.txt").write_text("old")
    assert analyze(capsys, str(log), "--out", str(out), "--nosqlite")[0] == 0
    assert not (out / "stale.txt").exists() and not (out / "hotshard.db").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refuses_to_replace_a_foreign_folder(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0001"))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    status, _, err = analyze(capsys, str(log), "--out", str(out))
    assert status == ExitStatus.USAGE and "not written by hotshard" in err
    assert (out / "notes.txt").read_text() == "precious"


# -- bad input ---------------------------------------------------------------------------------
def test_missing_path(tmp_path, capsys):
    status, _, err = analyze(capsys, str(tmp_path / "nope.log"), "--out", str(tmp_path / "o"))
    assert status == ExitStatus.USAGE
    assert err.strip() == f"hotshard: {tmp_path / 'nope.log'}: no such file or folder"


def test_unknown_file(tmp_path, capsys):
    junk = tmp_path / "picture.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    status, _, err = analyze(capsys, str(junk), "--out", str(tmp_path / "o"))
    assert status == ExitStatus.USAGE and "not a MONITOR log" in err


def test_folder_without_manifest(tmp_path, capsys):
    status, _, err = analyze(capsys, str(tmp_path), "--out", str(tmp_path / "o"))
    assert status == ExitStatus.USAGE and "manifest.json" in err


def test_bad_time(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0001"))
    status, _, err = analyze(capsys, str(log), "--since", "yesterday", "--out", str(tmp_path / "o"))
    assert status == ExitStatus.USAGE and "--since" in err


def test_progress_on_stderr_unless_quiet(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0001"))
    assert run(["analyze", str(log), "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    assert "hotshard: [" in err and "hotshard: [" not in out
    assert "parsed 1/1 source(s)" in err


def test_missing_rules_file_and_label_mismatch(tmp_path, capsys):
    log = write_log(tmp_path / "m.log", shard_lines("0001"))
    out = str(tmp_path / "o")
    status, _, err = analyze(capsys, str(log), "--rules", str(tmp_path / "no.toml"), "--out", out)
    assert status == ExitStatus.USAGE and "no such rules file" in err
    status, _, err = analyze(capsys, str(log), "--shard", "0001,0002", "--out", out)
    assert status == ExitStatus.USAGE and "--shard has 2 values for 1 log files" in err


def test_two_logs_of_one_shard_and_a_shard_name_with_a_slash(tmp_path, capsys):
    """Each source gets its own Parquet file (two logs may share a shard), shard names are
    escaped in the folder name but kept exactly in the column, and SQLite holds every row."""
    a = write_log(tmp_path / "a.log", shard_lines("0001", n=30))
    b = write_log(tmp_path / "b.log", shard_lines("0001", n=12, start=T0 + 100))
    out = tmp_path / "out"
    status, _, _ = analyze(capsys, str(a), str(b), "--shard", "eu/0001", "--out", str(out))
    assert status == ExitStatus.OK
    files = sorted(p.relative_to(out / "commands") for p in (out / "commands").rglob("*.parquet"))
    assert [str(f) for f in files] == [
        "shard=eu%2F0001/00000-00000.parquet",
        "shard=eu%2F0001/00001-00000.parquet",
    ]
    rows = pl.read_parquet(out / "commands", hive_partitioning=False)
    assert rows["shard"].unique().to_list() == ["eu/0001"]
    assert rows.height == 42
    conn = sqlite3.connect(out / "hotshard.db")
    assert conn.execute("SELECT COUNT(*), MIN(shard) FROM commands").fetchone() == (42, "eu/0001")
    conn.close()


def test_a_full_disk_is_one_line_and_leaves_no_half_output(tmp_path):
    """A file-size limit stands in for a full disk: SQLite and Parquet writes fail with EFBIG."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    out = tmp_path / "out"
    sample = Path(__file__).parents[2] / "samples" / "hot-zset"
    hotshard = Path(sys.executable).parent / "hotshard"
    cmd = [str(hotshard), "analyze", str(sample), "--out", str(out), "--quiet"]
    done = subprocess.run(cmd, preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert done.returncode == ExitStatus.ERROR
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hotshard: stopped, {out} left as it was:")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder left behind
