"""A chunk of MONITOR text parsed by the native core (`hotshard_native`, analyze/native/).

One pass in Rust over the chunk's bytes does every per-line step (analyze/native/src/scan.rs):
the line split, the header (`ts`, `db`, `client` in every address form), the quoting check, the
capture's health counts, and the first cut of the body into the command, the first key as
quoted (commands whose one key is argv 1: `fast`) and the rest, the "tail". Tails repeat (`GET`
with no more arguments, `SET … EX 60`), so the core hands each distinct tail once, with a code
per row, parsed: its arguments, request size, its keys by the server's key specs
(`keys.find.KeyPlan`) and its argument shape.

The columns come back as Arrow buffers owned by the core (no copy on the way), wrapped here
without a per-row Python step. The GIL is released while the core runs, so decoding, parsing and
writing overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
from hotshard_native import Keys, Needles, Parser

__all__ = ["KeyIds", "Needles", "Parser", "Scanned", "matching", "parser", "scan"]


@dataclass(frozen=True)
class Scanned:
    """One chunk: every line counted, and one row per well-formed command line."""

    rows: int  # lines read
    parsed: int  # command lines (the rows of `frame`)
    skipped: int  # OK / +OK / blank lines
    first_ts: float | None
    last_ts: float | None
    bad: list[str]  # the first few lines that are not MONITOR output, in file order
    # ts, db, client, (body,) _fast, _key_raw (the fast line's key as quoted), _tail (code)
    frame: pl.DataFrame
    # Per distinct tail, by code: `_whole` (a whole body, else a fast line's rest), and the tail
    # parsed as a body (a fast one with the placeholder key `K`): `command` (lower case),
    # `arg_count`, `request_bytes` (RESP2, decoded lengths), `args` (after the command, as
    # printed: escapes unresolved; a long one that is no key as `LONG`), and what a string
    # write stores: `_value_len`, `_exp_abs`, `_exp_rel` (`through_time.VALUE_COLUMNS`, worked
    # out in the core: values.rs `Values`); by key spec: `_tail_key_raw` (a whole body's first
    # key as quoted), `_keys_raw` (every key as quoted, when more than one), `key_count`,
    # `arg_shape`; `_long_value` (an APPEND's, SETRANGE's, PING's or ECHO's value's decoded
    # length when it was handed on as `LONG`).
    tails: pl.DataFrame


# What a long argument that is no key is handed on as (analyze/native/src/tails.rs `LONG`).
LONG = "\x03"


def parser(
    fast_spellings: Sequence[str] = (),
    long_arg: int | None = None,
    commands: Sequence[tuple[Any, ...]] | None = None,
    containers: Sequence[str] = (),
    keywords: Sequence[str] = (),
    ranged: Sequence[str] = (),
) -> Parser:
    """A parser whose fast commands (their one key is argv 1: the key cut off each line, the
    tails shared) are `fast_spellings` (`"GET`, `"get`...) and which finds keys by `commands`,
    `containers` and shapes arguments by `keywords`, `ranged` (`keys.find.KeyPlan.parser` hands
    them; none: no command has keys). An argument longer than `long_arg` (default 64 KiB) that
    is no key is handed on as `LONG`: only its length counts (the request size, a value's
    length), so a line's memory stays near the line itself (docs/BENCHMARKS.md, "A long line");
    without key specs nothing is."""
    spellings = [s.encode() for s in fast_spellings]
    if commands is None:
        return Parser(spellings, long_arg or 1 << 62)
    return Parser(
        spellings,
        *([] if long_arg is None else [long_arg]),
        commands=list(commands),
        containers=[c.encode() for c in containers],
        keywords=[k.encode() for k in keywords],
        ranged=[r.encode() for r in ranged],
    )


_PLAIN = parser()


def scan(block: bytes, using: Parser | None = None, body: bool = False) -> Scanned:
    """Parse `block` (whole lines, as `MonitorFile.blocks` gives them); `body`: keep each
    command line's quoted fields as printed (`body`)."""
    d = (using or _PLAIN).scan(block, body)
    n = d["n"]
    columns: dict[str, Any] = {
        "ts": _numbers(pa.float64(), n, d["ts"]),
        "db": _numbers(pa.int32(), n, d["db"]),
        "client": _strings(d, "client", n),
    }
    if body:
        columns["body"] = _strings(d, "body", n)
    columns |= {
        "_fast": pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(d["fast"])]),
        "_key_raw": _strings(d, "key_raw", n),
        "_tail": _numbers(pa.uint32(), n, d["tail"]),
    }
    frame = pl.from_arrow(pa.table(columns))
    t = d["tails.n"]
    args = pa.LargeListArray.from_arrays(
        _numbers(pa.int64(), t + 1, d["tails.arg_offsets"]),
        _strings(d, "tails.args", d["tails.args.n"]),
    )
    tails = pl.from_arrow(
        pa.table(
            {
                "_whole": pa.Array.from_buffers(
                    pa.bool_(), t, [None, pa.py_buffer(d["tails.whole"])]
                ),
                "command": _strings(d, "tails.command", t),
                "arg_count": _numbers(pa.int32(), t, d["tails.arg_count"]),
                "request_bytes": _numbers(pa.int64(), t, d["tails.request_bytes"]),
                "args": args,
                "_value_len": _nullable(pa.int64(), t, d, "tails.value_len"),
                "_exp_abs": _nullable(pa.float64(), t, d, "tails.exp_abs"),
                "_exp_rel": _nullable(pa.float64(), t, d, "tails.exp_rel"),
                "_tail_key_raw": _strings(d, "tails.key_raw", t),
                "_keys_raw": pa.Array.from_buffers(
                    pa.large_list(pa.large_string()),
                    t,
                    [pa.py_buffer(d["tails.keys.valid"]), pa.py_buffer(d["tails.keys.offsets"])],
                    null_count=d["tails.keys.nulls"],
                    children=[_strings(d, "tails.key_list", d["tails.keys.n"])],
                ),
                "key_count": _numbers(pa.int32(), t, d["tails.key_count"]),
                "arg_shape": _strings(d, "tails.arg_shape", t),
                "_long_value": _nullable(pa.int64(), t, d, "tails.long_value"),
            }
        )
    )
    assert isinstance(frame, pl.DataFrame) and isinstance(tails, pl.DataFrame)
    return Scanned(
        rows=d["rows"],
        parsed=d["parsed"],
        skipped=d["skipped"],
        first_ts=d["first_ts"],
        last_ts=d["last_ts"],
        bad=d["bad"],
        frame=frame,
        tails=tails.cast(
            {
                "command": pl.String,
                "args": pl.List(pl.String),
                "_tail_key_raw": pl.String,
                "_keys_raw": pl.List(pl.String),
                "arg_shape": pl.String,
            }
        ),
    )


def matching(block: bytes, needles: Needles) -> pl.DataFrame:
    """The command lines of `block` that `scan` gives a row and whose body holds one of
    `needles` (`Needles(list of bytes)`, ASCII case insensitive: Polars' `str.contains_any(...,
    ascii_case_insensitive=True)` on `scan`'s `body`), found without a row for the others
    (analyze/native/src/matching.rs): `ts`, `db`, `client`, `body`, `_command` (the body up to
    its second quote) and `_first` (the first argument as printed when the command field holds
    no quote; else null)."""
    d = needles.lines(block)
    n = d["n"]
    frame = pl.from_arrow(
        pa.table(
            {
                "ts": _numbers(pa.float64(), n, d["ts"]),
                "db": _numbers(pa.int32(), n, d["db"]),
                "client": _strings(d, "client", n),
                "body": _strings(d, "body", n),
                "_command": _strings(d, "command", n),
                "_first": _strings(d, "first", n),
            }
        )
    )
    assert isinstance(frame, pl.DataFrame)
    return frame


def _one_array(series: pl.Series) -> pa.Array:
    """`series` as one Arrow array (its buffers handed to the core by address)."""
    array = series.rechunk().to_arrow()
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _numbers(dtype: pa.DataType, n: int, data: bytes) -> pa.Array:
    return pa.Array.from_buffers(dtype, n, [None, pa.py_buffer(data)])


def _nullable(dtype: pa.DataType, n: int, d: dict[str, Any], name: str) -> pa.Array:
    buffers = [pa.py_buffer(d[f"{name}.valid"]), pa.py_buffer(d[name])]
    return pa.Array.from_buffers(dtype, n, buffers, null_count=d[f"{name}.nulls"])


def _strings(d: dict[str, Any], name: str, n: int, dtype: pa.DataType | None = None) -> pa.Array:
    valid = d.get(f"{name}.valid")
    buffers = [
        pa.py_buffer(valid) if valid is not None else None,
        pa.py_buffer(d[f"{name}.offsets"]),
        pa.py_buffer(d[f"{name}.data"]),
    ]
    nulls = d.get(f"{name}.nulls", 0)
    return pa.Array.from_buffers(dtype or pa.large_string(), n, buffers, null_count=nulls)


class KeyIds:
    """The distinct first keys of one analysis in the native core (analyze/native/src/
    python_keys.rs): key as quoted -> id, in order of first appearance; each new key unquoted
    (`sdscatrepr`'s escapes), slotted, given its pattern (`rules`, applied as Polars'
    `str.replace_all` would: patterns.rs) and its rows among the `sampled` keys and patterns
    there, once. The keys are held once, back to back, with what their rows need (20 bytes a
    key; docs/BENCHMARKS.md: bytes per key)."""

    def __init__(
        self,
        rules: Sequence[tuple[str, str, str | None]] | None = None,
        sampled: Sequence[str] = (),
        sampled_patterns: Sequence[str] = (),
    ) -> None:
        rules = None if rules is None else list(rules)
        self._keys = Keys(rules, list(sampled), list(sampled_patterns))

    def __len__(self) -> int:
        return len(self._keys)

    def ids(self, raw: pl.Series) -> tuple[pl.Series, list[str]]:
        """Per key of `raw` its id (Int32, null stays null), and the patterns not seen before,
        by id."""
        # Polars' own string views, handed over as they are (no copy).
        array = _one_array(raw.cast(pl.String))
        if not pa.types.is_string_view(array.type):
            array = array.cast(pa.string_view())
        valid, views, *data = array.buffers()
        d = self._keys.ids(
            len(array),
            array.offset,
            valid.address if valid is not None and array.null_count else 0,
            views.address if views is not None else 0,
            [b.address for b in data if b is not None],
        )
        ids = pa.Array.from_buffers(
            pa.int32(),
            len(array),
            [pa.py_buffer(d["ids.valid"]), pa.py_buffer(d["ids"])],
            null_count=d["ids.nulls"],
        )
        series = pl.from_arrow(ids)
        assert isinstance(series, pl.Series)
        return series.rename("key_id"), d["patterns"]

    def attributes(self, key_id: pl.Series) -> pl.DataFrame:
        """Per id of `key_id` (null: none), what its rows need of the key: `text` (where it is
        not the key as quoted: escapes), `length` (bytes), `pattern_id`, `size` (its row of the
        sampled sizes: its own, else its pattern's after the keys'), `own` (sampled itself),
        `pattern_row` (its pattern's row among the sampled patterns)."""
        array = _one_array(key_id.cast(pl.Int32))
        valid, values = array.buffers()
        n = len(array)
        d = self._keys.attributes(
            n,
            array.offset,
            valid.address if valid is not None and array.null_count else 0,
            values.address if values is not None else 0,
        )
        own = [pa.py_buffer(d["own.valid"]), pa.py_buffer(d["own"])]
        columns = {
            "text": _strings(d, "text", n),
            "length": _nullable(pa.int64(), n, d, "len"),
            "pattern_id": _nullable(pa.uint32(), n, d, "pattern"),
            "size": _nullable(pa.uint32(), n, d, "size"),
            "own": pa.Array.from_buffers(pa.bool_(), n, own, null_count=d["own.nulls"]),
            "pattern_row": _nullable(pa.uint32(), n, d, "pattern_row"),
        }
        frame = pl.from_arrow(pa.table(columns))
        assert isinstance(frame, pl.DataFrame)
        return frame.with_columns(pl.col("text").cast(pl.String))

    def table(self) -> pl.DataFrame:
        """Every key so far, by id: `key_id`, `key_name` (the key's text: the escaped form of a
        key that is not UTF-8), `key_binary` (not UTF-8), `key_bytes` (exact), `slot`,
        `pattern_id`."""
        d = self._keys.table()
        n = d["n"]
        columns = {
            "key_name": _strings(d, "name", n),
            "key_binary": pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(d["binary"])]),
            "key_bytes": _strings(d, "bytes", n, pa.large_binary()),
            "slot": _numbers(pa.int32(), n, d["slot"]),
            "pattern_id": _nullable(pa.uint32(), n, d, "pattern"),
        }
        frame = pl.from_arrow(pa.table(columns))
        assert isinstance(frame, pl.DataFrame)
        return frame.select(
            key_id=pl.int_range(pl.len(), dtype=pl.Int32),
            key_name=pl.col("key_name").cast(pl.String),
            key_binary="key_binary",
            key_bytes=pl.coalesce(
                pl.col("key_bytes").cast(pl.Binary), pl.col("key_name").cast(pl.Binary)
            ),
            slot="slot",
            pattern_id="pattern_id",
        )
