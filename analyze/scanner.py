"""A chunk of MONITOR text parsed by the native core (`hotshard_native`, analyze/native/).

One pass in Rust over the chunk's bytes does every per-line step (analyze/native/src/scan.rs):
the line split, the header (`ts`, `db`, `client` in every address form), the quoting check, the
capture's health counts, and the first cut of the body into the command, the first key as
quoted (commands whose one key is argv 1: `fast`) and the rest, the "tail". Tails repeat (`GET`
with no more arguments, `SET … EX 60`), so the core hands each distinct tail once, with a code
per row; the arguments are then parsed per distinct tail (`analyze.rows`), not per line.

The columns come back as Arrow buffers, wrapped here without a per-row Python step. The GIL is
released while the core runs, so decoding, parsing and writing overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
from hotshard_native import Parser

__all__ = ["Parser", "Scanned", "parser", "scan"]


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
    tails: pl.Series  # distinct tail texts by code (`rows`: `_SEP`, `_NONE`, `_WHOLE`)


def parser(fast_spellings: Sequence[str] = ()) -> Parser:
    """A parser whose fast commands are `fast_spellings` (`"GET`, `"get`...:
    `keys.KeyPlan.fast_spellings`)."""
    return Parser([s.encode() for s in fast_spellings])


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
    tails = pl.from_arrow(_strings(d, "tails", d["tails.n"]))
    assert isinstance(frame, pl.DataFrame) and isinstance(tails, pl.Series)
    return Scanned(
        rows=d["rows"],
        parsed=d["parsed"],
        skipped=d["skipped"],
        first_ts=d["first_ts"],
        last_ts=d["last_ts"],
        bad=d["bad"],
        frame=frame,
        tails=tails.cast(pl.String).rename("_text"),
    )


def _numbers(dtype: pa.DataType, n: int, data: bytes) -> pa.Array:
    return pa.Array.from_buffers(dtype, n, [None, pa.py_buffer(data)])


def _strings(d: dict[str, Any], name: str, n: int) -> pa.Array:
    valid = d.get(f"{name}.valid")
    buffers = [
        pa.py_buffer(valid) if valid is not None else None,
        pa.py_buffer(d[f"{name}.offsets"]),
        pa.py_buffer(d[f"{name}.data"]),
    ]
    return pa.Array.from_buffers(
        pa.large_string(), n, buffers, null_count=d.get(f"{name}.nulls", 0)
    )
