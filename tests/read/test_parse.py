"""MONITOR logs in, typed frames out: every escape, address form, line variant and container.

Files go through the analyzer's one row path (`hotshard.analyze.rows.make`, via `tests.frames.parse_log`);
the arguments as quoted, which no output keeps, are checked as the native core splits the lines'
bodies."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
import zstandard
from polars.testing import assert_frame_equal

from hotshard.analyze import schema
from hotshard.analyze.read import parse
from hotshard.analyze.read.parse import Source, line_stats
from hotshard.analyze.store import dataset
from hotshard.capture.format.lines import unescape_bytes
from tests.frames import WIDE, parse_log, parse_logs, slot_of, split_log
from tests.resp import request_size

HEADER = "1697549123.123456 [0 10.0.0.1:53422]"


def write(path: Path, data: bytes, kind: str = "plain") -> Path:
    if kind == "gzip":
        data = gzip.compress(data)
    elif kind == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def scan_bytes(tmp_path: Path, data: bytes, kind: str = "plain", **source) -> pl.DataFrame:
    suffix = {"plain": ".log", "gzip": ".log.gz", "zstd": ".log.zst"}[kind]
    path = write(tmp_path / f"monitor{suffix}", data, kind)
    return parse_log(path, **source)


def split_bytes(tmp_path: Path, data: bytes) -> pl.DataFrame:
    return split_log(write(tmp_path / "monitor.log", data))


def test_one_line_every_column(tmp_path):
    data = f'{HEADER} "ZREVRANGE" "large_sortedset:app:2025-10-17" "0" "-1"\n'.encode()
    out = scan_bytes(tmp_path, data, node="10.0.1.5:6379", shard="0001", role="replica")
    key = "large_sortedset:app:2025-10-17"
    expected = pl.DataFrame(
        {
            "ts": [1697549123.123456],
            "node": ["10.0.1.5:6379"],
            "shard": ["0001"],
            "source": ["monitor.log"],
            "db": [0],
            "client": ["10.0.0.1:53422"],
            "origin": ["client"],
            "command": ["zrevrange"],
            "key_name": [key],
            "key_id": [0],
            "signature_id": [0],
            "arg_count": [3],
            "key_count": [1],
            "keys": [None],
            "request_bytes": [request_size([b"ZREVRANGE", key.encode(), b"0", b"-1"])],
            "reply_bytes": [None],  # no sampled size: a whole zset of unknown size
            "reply_confidence": ["unknown"],
            "keys_reply_bytes": [None],  # one key: no shares
            "role": ["replica"],
            "client_ip": ["10.0.0.1"],
            "client_kind": ["ip"],
            "key_binary": [False],
            "key_bytes": [key.encode()],
            "slot": [slot_of(key.encode())],
            "key_pattern": ["large_sortedset:app:{DATE}"],
            "signature": ["ZREVRANGE | large_sortedset:app:{DATE} | 0 -1"],
            "arg_shape": ["0 -1"],
        },
        schema=WIDE,
    )
    assert_frame_equal(out, expected)
    assert out.columns == list(dataset.WIDE_COLUMNS)
    assert out.columns[: len(schema.COMMANDS)] == list(schema.COMMANDS)


# Each escape Redis' sdscatrepr prints, alone and next to the separator that fools a naive split.
ESCAPED_ARGS = [
    r"back\\slash",
    r"quote\"inside",
    r"new\nline",
    r"cr\rlf\n",
    r"tab\t",
    r"bell\a",
    r"backspace\b",
    r"nul\x00byte",
    r"caf\xc3\xa9",
    r"bin\xff\xfe\x80",
    r"ends in quote space\" ",
    r"ends in backslash\\",
    r"\" \"",
    r"",
    r"\\x41 is not hex",
    r"sp ace",
]


def test_every_escape_parses_back_to_its_bytes(tmp_path):
    quoted = " ".join(f'"{a}"' for a in ESCAPED_ARGS)
    out = split_bytes(tmp_path, f'{HEADER} "SET" {quoted}\n'.encode())
    assert out["args"].to_list() == [ESCAPED_ARGS]
    assert out["arg_count"].to_list() == [len(ESCAPED_ARGS)]
    argv = [b"SET", *(unescape_bytes(a) for a in ESCAPED_ARGS)]
    assert out["request_bytes"].to_list() == [request_size(argv)]


@pytest.mark.parametrize("arg", ESCAPED_ARGS)
def test_each_escape_alone(tmp_path, arg):
    out = split_bytes(tmp_path, f'{HEADER} "GET" "{arg}" "tail"\n'.encode())
    assert out["args"].to_list() == [[arg, "tail"]]
    assert out["request_bytes"].to_list() == [request_size([b"GET", unescape_bytes(arg), b"tail"])]


# One line of every client address form MONITOR prints (docs/MONITOR.md).
ADDRESSES = [
    '1.000001 [0 10.0.0.1:53422] "GET" "a"',
    '1.000002 [3 [::1]:6000] "GET" "b"',
    '1.000003 [0 [fe80::1%eth0]:6001] "GET" "c"',
    '1.000004 [0 lua] "get" "d"',
    '1.000005 [0 unix:/var/run/redis.sock] "GET" "e"',
    '1.000006 [0 unix:/tmp/with space/r.sock] "GET" "f"',
    '1.000007 [0 ] "PING"',
    '1.000008 [0 10.0.2.9:6379] "SET" "g" "1"',
]


def test_every_address_form(tmp_path):
    lines = ADDRESSES
    out = scan_bytes(
        tmp_path,
        ("\n".join(lines) + "\n").encode(),
        role="replica",
        primary_addresses=("10.0.2.9:6379",),
    )
    expected = pl.DataFrame(
        {
            "db": [0, 3, 0, 0, 0, 0, 0, 0],
            "client": [
                "10.0.0.1:53422",
                "[::1]:6000",
                "[fe80::1%eth0]:6001",
                "lua",
                "unix:/var/run/redis.sock",
                "unix:/tmp/with space/r.sock",
                "",
                "10.0.2.9:6379",
            ],
            "client_ip": ["10.0.0.1", "::1", "fe80::1%eth0", None, None, None, None, "10.0.2.9"],
            "client_kind": ["ip", "ip", "ip", "lua", "unix", "unix", "internal", "ip"],
            "origin": ["client"] * 3 + ["script"] + ["client"] * 3 + ["replicated"],
            "command": ["get"] * 6 + ["ping", "set"],
        },
        schema_overrides={"db": pl.Int32},
    )
    assert_frame_equal(out.sort("ts").select(expected.columns), expected)


def test_primary_addresses_only_mark_a_replica(tmp_path):
    data = b'1.5 [0 10.0.2.9:6379] "SET" "g" "1"\n'
    out = scan_bytes(tmp_path, data, role="primary", primary_addresses=("10.0.2.9:6379",))
    assert out["origin"].to_list() == ["client"]


def test_resp_prefix_crlf_ok_blank_garbage(tmp_path):
    data = (
        b"+OK\r\n"
        b'+1.1 [0 1.2.3.4:5] "GET" "a"\r\n'
        b"OK\n"
        b"\n"
        b'1.2 [0 1.2.3.4:5] "GET" "b"\n'
        b"garbage line\n"
        b"\xff\xfe binary garbage\n"
        b'1.3 [0 1.2.3.4:5] "SET" "k" "unterminated\n'
        b'1.4 [0 1.2.3.4:5] "SET" "k" "\n'
        b'1.5 [0 1.2.3.4:5] "GET" "a" junk "b"\n'
        b'1.6 [x 1.2.3.4:5] "GET" "a"\n'
        b'1.7 [0 1.2.3.4:5] "GET" "c\\"\n'
        b'notanumber [0 1.2.3.4:5] "GET" "a"\n'
        b'1.8 [0 1.2.3.4:5] "GET" "a" "b\n'
    )
    path = write(tmp_path / "m.log", data)
    out = parse_log(path)
    assert out.sort("ts")["key_name"].to_list() == ["a", "b"]
    stats = line_stats([Source(path, node="n:1", shard="0001")])
    row = stats.row(0, named=True)
    assert row["lines_total"] == 14
    assert (row["parsed"], row["skipped"], row["errors"]) == (2, 3, 9)
    assert row["truncated_last_line"] is False
    assert (row["first_ts"], row["last_ts"]) == (1.1, 1.2)
    assert row["error_examples"][:2] == [
        "garbage line",
        "\\xef\\xbf\\xbd\\xef\\xbf\\xbd binary garbage",
    ]
    assert len(row["error_examples"]) == 5
    assert stats.schema == pl.Schema(parse.STATS_SCHEMA)


def _log(n: int, start: float = 1.0) -> bytes:
    return b"".join(
        b'%.6f [0 10.0.0.1:1] "GET" "key:%d"\n' % (start + i / 1000, i) for i in range(n)
    )


@pytest.mark.parametrize("kind", ["plain", "gzip", "zstd"])
def test_compressed_files_and_truncated_last_line(tmp_path, kind):
    data = _log(50) + b'9.9 [0 10.0.0.1:1] "SET" "k" "half a val'
    out = scan_bytes(tmp_path, data, kind)
    assert out.height == 50
    stats = line_stats([Source(next(tmp_path.iterdir()))]).row(0, named=True)
    assert (stats["lines_total"], stats["parsed"], stats["errors"]) == (51, 50, 0)
    assert stats["truncated_last_line"] is True


def test_truncated_last_line_that_looks_complete_is_dropped(tmp_path):
    # Cut right after a closing quote: only the missing newline tells.
    data = _log(3) + b'9.9 [0 10.0.0.1:1] "SET" "k"'
    out = scan_bytes(tmp_path, data, "zstd")
    assert out["command"].to_list() == ["get"] * 3


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_truncated_stream_keeps_every_readable_line(tmp_path, kind):
    """A killed capture: frames flushed every few lines, the last one cut in the middle."""
    chunks = [_log(40, start=float(i)) for i in range(5)]
    if kind == "zstd":
        cctx = zstandard.ZstdCompressor()
        stream = b"".join(cctx.compress(c) for c in chunks)
    else:
        stream = b"".join(gzip.compress(c) for c in chunks)
    path = tmp_path / ("cut.monitor.zst" if kind == "zstd" else "cut.monitor.gz")
    path.write_bytes(stream[: len(stream) - 25])
    out = parse_log(path)
    assert 160 <= out.height < 200
    assert out["key_name"].is_in([f"key:{i}" for i in range(40)]).all()
    stats = line_stats([Source(path)]).row(0, named=True)
    assert stats["parsed"] == out.height
    assert stats["errors"] == 0
    assert "truncated" in stats["note"]


def test_empty_and_ok_only_files(tmp_path):
    empty = write(tmp_path / "empty.log", b"")
    ok = write(tmp_path / "ok.log.zst", b"+OK\r\n", "zstd")
    assert parse_logs([Source(empty), Source(ok)]).height == 0
    stats = line_stats([Source(empty), Source(ok)])
    assert stats.select("lines_total", "parsed", "skipped").rows() == [(0, 0, 0), (1, 0, 1)]


def test_no_sources():
    assert parse_logs([]).columns == list(dataset.WIDE_COLUMNS)
    assert line_stats([]).is_empty()


def test_several_sources_are_labelled(tmp_path):
    a = write(tmp_path / "a.log", _log(2))
    b = write(tmp_path / "b.log.zst", _log(3), "zstd")
    out = parse_logs([Source(a, shard="0001"), Source(b, shard="0002")])
    counts = out.group_by("shard", "source").len().sort("shard")
    assert counts.rows() == [("0001", "a.log", 2), ("0002", "b.log.zst", 3)]


def test_missing_file_is_a_bad_input(tmp_path):
    from hotshard.analyze.errors import BadInput

    with pytest.raises(BadInput, match=r"nope\.log"):
        parse_log(tmp_path / "nope.log")


def test_multi_and_lua_lines(tmp_path):
    lines = [
        '1.1 [0 127.0.0.1:5000] "MULTI"',
        '1.1 [0 127.0.0.1:5000] "INCR" "c"',
        '1.1 [0 127.0.0.1:5000] "EXEC"',
        '1.2 [0 127.0.0.1:5000] "EVAL" "return redis.call(\'get\', KEYS[1])" "1" "k"',
        '1.2 [0 lua] "get" "k"',
    ]
    out = scan_bytes(tmp_path, ("\n".join(lines) + "\n").encode()).sort("ts", "command")
    assert out.select("command", "origin").rows() == [
        ("exec", "client"),
        ("incr", "client"),
        ("multi", "client"),
        ("eval", "client"),
        ("get", "script"),
    ]
