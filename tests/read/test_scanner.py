"""The native core's hand-off: columns as Polars takes them, and the GIL released while it
parses (so decoding, parsing and writing overlap in the analyzer's threads)."""

from __future__ import annotations

import threading
import time

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from hotshard.analyze.keys import find, keyspecs
from hotshard.analyze.read import scanner

PLAN = find.plan(keyspecs.load())

LINE = b'1697549123.000001 [0 10.0.0.1:5000] "SET" "user:%d" "%s"\n'


def _block(lines: int) -> bytes:
    return b"".join(LINE % (i, b"v" * (i % 50)) for i in range(lines))


def test_columns_and_tails():
    block = _block(10) + b'1.5 [3 unix:/tmp/a b.sock] "MGET" "a" "b\\"c"\nOK\ngarbage\n'
    out = scanner.scan(block, PLAN.parser(), body=True)
    assert (out.rows, out.parsed, out.skipped, out.bad) == (13, 11, 1, ["garbage"])
    assert out.frame.schema == {
        "ts": pl.Float64,
        "db": pl.Int32,
        "client": pl.String,
        "body": pl.String,
        "_fast": pl.Boolean,
        "_key_raw": pl.String,
        "_tail": pl.UInt32,
    }
    assert out.frame["_key_raw"].to_list() == [f"user:{i}" for i in range(10)] + [None]
    assert out.frame["client"][-1] == "unix:/tmp/a b.sock"
    # SET k "" ... SET k "v*9": ten distinct tails, then the MGET's whole body
    assert out.frame["_tail"].to_list() == list(range(11))
    mget = out.tails.row(10, named=True)
    assert mget["command"] == "mget" and mget["args"] == ["a", 'b\\"c']
    assert mget["arg_count"] == 2 and mget["request_bytes"] == 4 + 10 + 7 + 9
    # Its keys by key spec, as quoted; a fast tail's key is the line's own (`_key_raw`).
    assert (mget["_tail_key_raw"], mget["_keys_raw"], mget["key_count"]) == ("a", ["a", 'b\\"c'], 2)
    first = out.tails.row(0, named=True)
    assert (first["_tail_key_raw"], first["_keys_raw"], first["key_count"]) == (None, None, 1)
    assert out.tails.row(0, named=True)["args"] == ["K", ""]  # fast: the placeholder key


def test_the_gil_is_released_while_parsing():
    """The main thread keeps waking up while another thread parses a big chunk: holding the
    GIL, the parse would let it wake once, after it ended."""
    block = _block(400_000)
    parser = PLAN.parser()
    started, done = threading.Event(), threading.Event()
    seconds = []

    def parse() -> None:
        started.set()
        t = time.perf_counter()
        parser.scan(block, False)
        seconds.append(time.perf_counter() - t)
        done.set()

    worker = threading.Thread(target=parse)
    worker.start()
    started.wait()
    wakes = 0
    while not done.is_set():
        time.sleep(0.001)  # lets the worker have the GIL, as the analyzer's threads do
        wakes += 1
    worker.join()
    assert seconds[0] > 0.02, "the chunk parsed too fast to tell"
    assert wakes >= 5


# What a string write stores, worked out in the core (values.rs `Values`), against the Polars
# expressions of the estimate (`string_events.value_columns`) over the same parsed tails.
_NUMBERS = [
    "60",
    "1.5",
    "-3",
    "+7",
    ".5",
    "5.",
    "1e3",
    "1E-2",
    "inf",
    "-Infinity",
    "nan",
    "0x10",
    "",
    " 60",
    "60 ",
    "1_000",
    "12abc",
    "e5",
    "--1",
    "9" * 400,
]
_WRITES = [
    ["SET", "k", "v"],
    ["SET", "k", 'a\\\\b\\x41\\"c\\xZZ\\xe9\\', "EX", "{n}"],
    ["set", "k", "v", "px", "{n}", "KEEPTTL"],
    ["SET", "k", "v", "EXAT", "{n}"],
    ["SET", "k", "v", "pxat", "{n}", "GET"],
    ["SET", "k", "v", "NX", "EX", "{n}"],
    ["SET", "k", "v", "ex", "1", "xx"],
    ["SET", "k", "v", "IfEq", "x", "EX", "9"],
    ["SET", "k", "v", "EX"],
    ["SET", "k", "v", "EX", "{n}", "EX", "5"],
    ["SET", "k"],
    ["GETSET", "k", "{n}"],
    ["GETSET", "k", "v", "x"],
    ["SETEX", "k", "{n}", "v\\n"],
    ["PSETEX", "k", "{n}", "v"],
    ["SETEX", "k", "{n}"],
    ["PSETEX", "k"],
    ["APPEND", "k", "v"],
    ["MSET", "a", "1", "b", "2"],
]


def _compare(lines: list[bytes]) -> None:
    from polars.testing import assert_frame_equal

    from hotshard.analyze.estimate import string_events, through_time

    block = b"".join(lines)
    for parser in (scanner.parser(), PLAN.parser()):
        tails = scanner.scan(block, parser).tails
        want = tails.with_columns(**string_events.value_columns())
        cols = list(through_time.VALUE_COLUMNS)
        assert_frame_equal(tails.select(cols), want.select(cols))


def test_string_writes_match_the_estimate_expressions():
    lines = [
        b"1.0 [0 10.0.0.1:5] " + " ".join(f'"{a.format(n=n)}"' for a in argv).encode() + b"\n"
        for argv in _WRITES
        for n in _NUMBERS
    ]
    _compare(lines)
    got = scanner.scan(b"".join(lines), scanner.parser()).tails
    assert got["_value_len"].drop_nulls().len() > 0 and got["_exp_rel"].drop_nulls().len() > 0


@settings(max_examples=80, deadline=None)
@given(
    command=st.sampled_from(["SET", "set", "GETSET", "SETEX", "PSETEX", "GET"]),
    args=st.lists(
        st.one_of(
            st.sampled_from(["EX", "px", "ExAt", "PXAT", "NX", "xx", "IFEQ", "GET", "KEEPTTL"]),
            st.sampled_from(_NUMBERS),
            st.binary(max_size=12),
        ),
        max_size=6,
    ),
)
def test_any_string_write_matches_the_estimate_expressions(command, args):
    from hotshard.capture.format.lines import escape_bytes

    quoted = [f'"{command}"'] + [
        f'"{escape_bytes(a) if isinstance(a, bytes) else a}"' for a in args
    ]
    _compare([b"1.0 [0 10.0.0.1:5] " + " ".join(quoted).encode() + b"\n"])
