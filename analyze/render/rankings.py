"""The report's ranked tables: top keys, key patterns, command signatures, heavy clients and
large-key operations, each cut where the rows stop mattering (`NOISE`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.render import headline
from hotshard.analyze.render.markdown import section, share_note, table

code = humanize.code

NOISE = headline.NOISE  # rows below this share of the input are summed up in one line
MIN_ROWS = 3  # ... except the first few, so a balanced input still shows its leaders


def _rank(df: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    return list(df.head(n).iter_rows(named=True))


def ranked(
    f: Findings, df: pl.DataFrame, limit: int | None = None
) -> tuple[list[dict[str, Any]], str]:
    """The rows worth reading (at least `MIN_ROWS`, then those above `NOISE` of the input's
    total), and a line saying how many of the top `limit` were left out and what they weigh."""
    column = f.rollups.rank_column
    t = f.rollups.totals
    total = (t.est_bytes_out or 0) if f.rollups.basis == "bytes" else t.client
    rows = _rank(df, f.top if limit is None else limit)
    shown = [
        r
        for i, r in enumerate(rows)
        if i < MIN_ROWS or (total and (r[column] or 0) >= NOISE * total)
    ]
    rest = rows[len(shown) :]
    if not rest:
        return shown, ""
    weight = sum(r[column] or 0 for r in rest)
    amount = humanize.size(weight) if f.rollups.basis == "bytes" else humanize.count(weight)
    what = "estimated bytes out" if f.rollups.basis == "bytes" else "client commands"
    line = (
        f"{len(rest)} more below {humanize.percent(NOISE)} of all {what} each ({amount} "
        "together) are not listed; `summary.json` and the commands table hold them."
    )
    return shown, line


# A ranked table's columns: header, alignment (`r` for numbers), the cell of one row.
Column = tuple[str, str, Callable[[dict[str, Any]], Any]]


def _ranked_table(f: Findings, df: pl.DataFrame, columns: Sequence[Column]) -> tuple[str, str]:
    """The rows worth reading as a numbered table ("" without rows), and the line on the rest."""
    shown, more = ranked(f, df)
    if not shown:
        return "", more
    headers = ["#", *(c[0] for c in columns)]
    align = "r" + "".join(c[1] for c in columns)
    rows = [[i, *(c[2](r) for c in columns)] for i, r in enumerate(shown, 1)]
    return table(headers, rows, align), more


def _mostly(r: dict[str, Any]) -> str:
    return code((r["top_command"] or "").upper())


_OPS_S: Column = ("ops/s", "r", lambda r: humanize.rate(r["ops_per_s"]))
_EST: Column = ("Est. bytes out", "r", lambda r: humanize.size(r["est_bytes_out"]))
_COMMANDS: Column = ("Commands", "r", lambda r: humanize.count(r["commands"]))
_SHARE: Column = ("Share", "r", lambda r: humanize.percent(r["share"]))
_SHARE_OF_SHARD: Column = ("Share of shard", "r", lambda r: humanize.percent(r["share_of_shard"]))
_SHARD: Column = ("Shard", "l", lambda r: code(r["shard"]))

KEY_COLUMNS: tuple[Column, ...] = (
    ("Key", "l", lambda k: code(k["key_name"]) + (" (binary)" if k["key_binary"] else "")),
    _SHARD,
    ("Slot", "l", lambda k: k["slot"]),
    _COMMANDS,
    _OPS_S,
    _EST,
    _SHARE_OF_SHARD,
    ("Mostly", "l", _mostly),
    ("Pattern", "l", lambda k: code(k["key_pattern"])),
)
PATTERN_COLUMNS: tuple[Column, ...] = (
    ("Pattern", "l", lambda p: code(p["key_pattern"])),
    ("Keys", "r", lambda p: humanize.count(p["distinct_keys"])),
    ("Shards", "r", lambda p: p["shards"]),
    _COMMANDS,
    _OPS_S,
    _EST,
    _SHARE,
)
SIGNATURE_COLUMNS: tuple[Column, ...] = (
    ("Command \\| pattern \\| arguments", "l", lambda s: code(s["signature"], 100)),
    _COMMANDS,
    _OPS_S,
    ("Avg reply", "r", lambda s: humanize.size(s["avg_reply_bytes"])),
    _EST,
    _SHARE,
)
CLIENT_COLUMNS: tuple[Column, ...] = (
    ("Client", "l", lambda c: code(c["client_id"])),
    ("Kind", "l", lambda c: c["client_kind"]),
    ("Connections", "r", lambda c: humanize.count(c["connections"])),
    _COMMANDS,
    _OPS_S,
    _EST,
    _SHARE,
    ("Mostly", "l", _mostly),
)
LARGE_OP_COLUMNS: tuple[Column, ...] = (
    (
        "Command",
        "l",
        lambda o: code(o["command"].upper() + (" " + o["arg_shape"] if o["arg_shape"] else "")),
    ),
    ("Key", "l", lambda o: code(o["key_name"])),
    _SHARD,
    ("Times", "r", lambda o: humanize.count(o["commands"])),
    ("Largest reply", "r", lambda o: humanize.size(o["max_reply_bytes"])),
    _EST,
    _SHARE_OF_SHARD,
)


def top_keys(f: Findings) -> str:
    text, more = _ranked_table(f, f.rollups.hot_keys, KEY_COLUMNS)
    if not text:
        return section("Top keys", "No client command named a key.")
    return section("Top keys", text, more, share_note(f))


def patterns(f: Findings) -> str:
    text, more = _ranked_table(f, f.rollups.patterns, PATTERN_COLUMNS)
    return section("Top key patterns", text, more) if text else ""


def signatures(f: Findings) -> str:
    text, more = _ranked_table(f, f.rollups.signatures, SIGNATURE_COLUMNS)
    return section("Top command signatures", text, more) if text else ""


def clients(f: Findings) -> str:
    text, more = _ranked_table(f, f.rollups.clients, CLIENT_COLUMNS)
    return section("Heavy clients", text, more) if text else ""


def large_ops(f: Findings) -> str:
    title = "Large-key operations (whole-value reads)"
    if f.rollups.large_ops.is_empty():
        return section(
            title,
            "No whole-value reads (`LRANGE 0 -1`, `ZREVRANGE 0 -1`, `HGETALL`, `SMEMBERS`...) were seen.",
        )
    text, more = _ranked_table(f, f.rollups.large_ops, LARGE_OP_COLUMNS)
    note = "Commands that return a whole collection whatever its size: they grow with the key."
    return section(title, text, more, note)
