"""A long argument that is no key of its command (a SET's value, an APPEND's, MSET's values, an
EVAL's script) is handed on by the native core as a placeholder, its decoded length counted
there (analyze/native/src/tails.rs `LONG`): every column of every row is what parsing the
argument whole gives. A long key stays whole."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from hotshard.analyze.read import scanner
from hotshard.analyze.rows import make
from tests.rows.test_chunks import sources_of

LONG = 70_000  # over the core's 64 KiB
BIG = "x" * LONG
# Escapes count one byte each once decoded; a long option-like text is still not an option.
ESCAPED = r"\\\"\x41" * (LONG // 6)
BODIES = [
    f'"SET" "s:1" "{BIG}"',
    f'"SET" "s:2" "{ESCAPED}" "EX" "60"',
    f'"set" "s:3" "{BIG}" "NX"',
    f'"SET" "s:4" "{BIG} GET"',
    f'"SETEX" "s:5" "30" "{BIG}"',
    f'"GETSET" "s:1" "{ESCAPED}"',
    '"GET" "s:1"',
    '"GET" "s:2"',
    f'"HSET" "h:1" "{BIG}" "{ESCAPED}"',
    f'"RPUSH" "l:1" "a" "{BIG}" "b"',
    f'"ZADD" "z:1" "INCR" "1" "{BIG}"',
    f'"APPEND" "s:1" "{BIG}"',  # the reply is the length: the core measures the value
    f'"APPEND" "s:1" "{ESCAPED}"',
    f'"SETRANGE" "s:1" "5" "{ESCAPED}"',
    f'"ECHO" "{BIG}"',
    f'"GETRANGE" "s:1" "0" "{BIG}"',
    f'"MSET" "m:1" "{BIG}" "m:2" "v"',
    f'"EVAL" "return 1 -- {BIG}" "1" "e:1"',
    f'"MGET" "{BIG}" "s:1"',  # a long key: kept whole
    '"GET" "s:1"',
]


def _log(path: Path) -> Path:
    lines = [f"1733412345.{i:06d} [0 10.0.0.1:5000] {body}\n" for i, body in enumerate(BODIES)]
    path.write_text("".join(lines))
    return path


def _rows(path: Path, long_arg: int | None) -> pl.DataFrame:
    sources, ctx = sources_of(path)
    if long_arg is not None:
        ctx = dataclasses.replace(ctx, parser=ctx.key_plan.parser(long_arg=long_arg))
    return pl.concat([chunk for source in sources for chunk in make.source_rows(source, ctx)])


def test_long_arguments_give_the_rows_parsing_them_whole_gives(tmp_path):
    log = _log(tmp_path / "app.log")
    placeholder = _rows(log, None)
    whole = _rows(log, 1 << 40)
    assert placeholder.height == len(BODIES)
    assert_frame_equal(placeholder, whole)
    assert placeholder["request_bytes"][0] > LONG


def test_only_long_arguments_that_are_no_key_are_placeholders(tmp_path):
    _, ctx = sources_of(_log(tmp_path / "app.log"))
    block = _log(tmp_path / "app.log").read_bytes()
    tails = scanner.scan(block, ctx.parser).tails
    by_command = {
        row["command"]: row["args"] for row in tails.select("command", "args").iter_rows(named=True)
    }
    assert by_command["hset"] == ["K", "\x03", "\x03"]
    assert by_command["rpush"] == ["K", "a", "\x03", "b"]
    assert by_command["append"] == ["K", "\x03"]
    assert by_command["getrange"] == ["K", "0", "\x03"]
    assert by_command["mset"] == ["m:1", "\x03", "m:2", "v"]
    assert by_command["eval"] == ["\x03", "1", "e:1"]
    assert by_command["mget"] == [BIG, "s:1"]
    # The value's decoded length comes from the core, placeholder or not (`\x41`, `\"`, `\\`).
    long = pl.col("args").list.get(1, null_on_oob=True) == "\x03"
    values = tails.filter(long).select("command", "_value_len")
    assert values.row(0) == ("set", LONG) and ("set", LONG // 6 * 3) in values.rows()
    raised = scanner.scan(block, ctx.key_plan.parser(long_arg=1 << 40))
    assert "\x03" not in raised.tails["args"].explode().to_list()
