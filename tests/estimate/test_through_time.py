"""Strings sized through the window: a GET after a write is sized by that write, exactly."""

from __future__ import annotations

import polars as pl
import pytest

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.rows import make
from hotshard.analyze.store import dataset
from hotshard.capture.format import resp
from tests.commands.test_analyze import line, write_log

C = "10.0.0.1:5000"


def analyzed(tmp_path, lines: list[str], monkeypatch=None, chunk_bytes=None) -> pl.DataFrame:
    log = write_log(tmp_path / "m.log", lines)
    out = tmp_path / "out"
    if chunk_bytes is not None:
        monkeypatch.setattr(make.parse, "CHUNK_BYTES", chunk_bytes)
    run_analyze(AnalyzeOptions(inputs=[str(log)], out=str(out), quiet=True, sqlite=False))
    chunks = len(list((out / "commands").rglob("*.parquet")))
    if chunk_bytes == 200:
        assert chunks > 2  # the premise: the write and the read are chunks apart
    return (
        dataset.read(out)
        .rows.filter(pl.col("command") == "get")
        .sort("ts")
        .select("key_name", "reply_bytes", "reply_confidence")
        .collect()
    )


def test_reads_follow_the_writes_before_them(tmp_path):
    t = 1000.0
    lines = [
        line(t + 0.1, C, "SET", "k", "x" * 2000),
        line(t + 0.2, C, "GET", "k"),
        line(t + 0.3, C, "SET", "k", "y" * 200),
        line(t + 0.4, C, "GET", "k"),
        line(t + 0.5, C, "GETSET", "k", "z" * 9),
        line(t + 0.6, C, "GET", "k"),
        line(t + 0.7, C, "DEL", "k"),
        line(t + 0.8, C, "GET", "k"),
        line(t + 0.9, C, "SET", "k", "v", "NX"),  # conditional: the size is unknown again
        line(t + 1.0, C, "GET", "k"),
        line(t + 1.1, C, "SET", "a", "1" * 30),
        line(t + 1.2, C, "SET", "b", "2" * 40),
        line(t + 1.3, C, "DEL", "a", "b"),  # every key of a multi-key delete
        line(t + 1.4, C, "GET", "b"),
        line(t + 1.5, C, "SET", "c", "3" * 50),
        line(t + 1.6, C, "FLUSHALL"),
        line(t + 1.7, C, "GET", "c"),
        line(t + 1.8, C, "SET", "d", "é" * 10, db=1),
        line(t + 1.9, C, "GET", "d"),  # db 0: another key
        line(t + 2.0, C, "GET", "d", db=1),
    ]
    got = analyzed(tmp_path, lines)
    assert got["reply_bytes"].to_list() == [
        resp.bulk(2000),
        resp.bulk(200),
        resp.bulk(9),
        5,
        None,
        5,
        None,
        None,
        resp.bulk(20),
    ]
    assert got["reply_confidence"].to_list() == [
        "exact",
        "exact",
        "exact",
        "exact",
        "unknown",
        "exact",
        "unknown",
        "unknown",
        "exact",
    ]


@pytest.mark.parametrize("chunk_bytes", [200, 10_000])
def test_the_last_write_carries_across_chunks(tmp_path, monkeypatch, chunk_bytes):
    t = 1000.0
    lines = [line(t, C, "SET", "k", "x" * 321)]
    lines += [line(t + 0.001 * i, C, "SET", f"other{i}", "y") for i in range(1, 40)]
    lines += [line(t + 1, C, "GET", "k")]
    got = analyzed(tmp_path, lines, monkeypatch, chunk_bytes)
    assert got.row(0) == ("k", resp.bulk(321), "exact")


@pytest.mark.slow
def test_values_rewritten_and_deleted_mid_window_on_a_real_node(engine_node, tmp_path):
    """Growing, shrinking and deleted strings: the estimate matches the bytes the client got."""
    import json

    from hotshard.capture.session import CaptureOptions
    from tests.capturing import background_capture
    from tests.resp import RawConnection

    node = engine_node
    app = RawConnection(node.host, node.port)
    options = CaptureOptions(
        endpoints=[node.address], out=str(tmp_path / "cap"), nodes="all", duration=120, quiet=True
    )
    received = 0
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        for i in range(30):
            first, second = (3000, 150) if i % 2 else (150, 3000)  # shrinking and growing
            for size in (first, second):
                received += app.reply_size("SET", f"v:{i}", "x" * size)
                for _ in range(3):
                    received += app.reply_size("GET", f"v:{i}")
            if i % 3 == 0:
                received += app.reply_size("DEL", f"v:{i}")
                received += app.reply_size("GET", f"v:{i}")
        received += app.reply_size("ECHO", "the end")
        result = bg.stop()
    app.close()
    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    (check,) = json.loads((out / "summary.json").read_text())["self_check"]["nodes"]
    assert check["measured_bytes_out"] == received
    assert abs(check["ratio"] - 1) < 0.001, check
    gets = dataset.read(out).rows.filter(pl.col("command") == "get").collect()
    assert gets["reply_confidence"].unique().to_list() == ["exact"]


def test_values_written_with_options_and_their_expiry(tmp_path):
    """SET with an expiry (as a client sends it, and as a replica sees it: `PXAT`), SETEX,
    PSETEX and `SET ... GET`: later GETs are the value's bulk, a null reply past the expiry;
    an escaped value counts its decoded bytes; SET XX leaves the size unknown."""
    t = 1000.0
    lines = [
        line(t + 0.1, C, "SET", "a", "x" * 300, "EX", "2"),
        line(t + 0.2, C, "GET", "a"),
        line(t + 2.5, C, "GET", "a"),  # expired
        line(t + 2.6, C, "SET", "b", "y" * 40, "PXAT", str(int((t + 3.0) * 1000))),
        line(t + 2.7, C, "GET", "b"),
        line(t + 3.1, C, "GET", "b"),
        line(t + 3.2, C, "SETEX", "c", "10", "z" * 7),
        line(t + 3.3, C, "GET", "c"),
        line(t + 3.4, C, "PSETEX", "d", "100", "w" * 8),
        line(t + 3.6, C, "GET", "d"),  # 100 ms later: gone
        line(t + 3.7, C, "SET", "e", "é" * 10, "KEEPTTL", "GET"),
        line(t + 3.8, C, "GET", "e"),
        line(t + 3.9, C, "SET", "e", "q", "XX"),
        line(t + 4.0, C, "GET", "e"),
    ]
    got = analyzed(tmp_path, lines)
    assert got["reply_bytes"].to_list() == [
        resp.bulk(300),
        5,
        resp.bulk(40),
        5,
        resp.bulk(7),
        5,
        resp.bulk(20),
        None,
    ]
    assert got["reply_confidence"].to_list() == ["exact"] * 7 + ["unknown"]
