"""The native core's hand-off: columns as Polars takes them, and the GIL released while it
parses (so decoding, parsing and writing overlap in the analyzer's threads)."""

from __future__ import annotations

import threading
import time

import polars as pl

from hotshard.analyze.read import scanner

LINE = b'1697549123.000001 [0 10.0.0.1:5000] "SET" "user:%d" "%s"\n'


def _block(lines: int) -> bytes:
    return b"".join(LINE % (i, b"v" * (i % 50)) for i in range(lines))


def test_columns_and_tails():
    block = _block(10) + b'1.5 [3 unix:/tmp/a b.sock] "MGET" "a" "b\\"c"\nOK\ngarbage\n'
    out = scanner.scan(block, scanner.parser(['"SET']), body=True)
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
    assert out.tails.row(0, named=True)["args"] == ["K", ""]  # fast: the placeholder key


def test_the_gil_is_released_while_parsing():
    """The main thread keeps waking up while another thread parses a big chunk: holding the
    GIL, the parse would let it wake once, after it ended."""
    block = _block(400_000)
    parser = scanner.parser(['"SET'])
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
