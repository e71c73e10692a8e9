"""The report's first screen: which shard, by how much, why, what to do, and how sure.

An SRE in an incident reads the top of report.md next to CloudWatch and stops there; everything
below it is detail. Each line here is built from the same rollups as the sections below, so the
first screen never says something the details do not.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.findings.verdict import Recommendation

SIBLINGS = 5  # other shards named beside the hot one; the rest are "N more"
NOISE = 0.01  # rows and advice below this share of the input's total are counted, not listed

code = humanize.code


def render(f: Findings) -> str:
    """The verdict in bold, then Where / Cause / Fix / How sure as a short list."""
    items = [
        ("Where", _where(f)),
        ("Cause", _cause(f)),
        ("Fix", _fix(f)),
        ("How sure", _how_sure(f)),
    ]
    lines = [f"- **{label}:** {text}" for label, text in items if text]
    return f"**{f.verdict.text}**\n\n" + "\n".join(lines)


def _busiest(f: Findings) -> dict[str, Any] | None:
    shard = f.verdict.hot_shard
    rows = f.rollups.shards.filter(pl.col("shard") == shard) if shard is not None else None
    return None if rows is None or rows.is_empty() else rows.row(0, named=True)


def _shard_value(f: Findings, row: dict[str, Any]) -> float | None:
    """A shard's load as the verdict compared it (its full estimate when the capture has server
    counters), else the rollups' ranking column."""
    value = f.verdict.values.get(row["shard"])
    return value if value is not None else row[f.rollups.rank_column]


def _share(f: Findings, row: dict[str, Any]) -> float | None:
    total = sum(f.verdict.values.values())
    if row["shard"] in f.verdict.values and total:
        return f.verdict.values[row["shard"]] / total
    return row["share"]


def _per_second(f: Findings, value: float | None) -> str:
    """A shard's or node's load as a rate over the window, in the ranking's unit."""
    if value is None:
        return "—"
    rate = value / f.rollups.duration
    if f.rollups.basis == "bytes":
        return f"{humanize.size(rate)}/s"
    return f"{humanize.rate(rate)} commands/s"


def _where(f: Findings) -> str:
    s = _busiest(f)
    if s is None:
        return ""
    r = f.rollups
    what = "client bytes out" if r.basis == "bytes" else "client commands"
    if f.verdict.estimate == "full":
        what = "client bytes out including what MONITOR does not show"
    lead = "shard" if f.verdict.status in ("hot", "skewed", "single") else "busiest shard"
    text = (
        f"{lead} {code(s['shard'])}: {_per_second(f, _shard_value(f, s))} of {what} over "
        f"{humanize.duration(r.duration)}, {humanize.percent(_share(f, s))} of the input's"
    )
    nodes = []
    shard_nodes = r.nodes.filter((pl.col("shard") == s["shard"]) & (pl.col("node") != "unknown"))
    for n in shard_nodes.sort("node").iter_rows(named=True):
        node = f"{code(n['node'])} ({n['role']})"
        measured = f.measured_bytes_out.get(n["node"])
        if measured is not None:
            node += f" measured {humanize.size(measured / r.duration)}/s"
        nodes.append(node)
    if nodes:
        text += "; node " + ", ".join(nodes) if len(nodes) == 1 else "; nodes " + ", ".join(nodes)
    others = sorted(
        r.shards.filter(pl.col("shard") != s["shard"]).iter_rows(named=True),
        key=lambda o: (-(_shard_value(f, o) or 0), o["shard"]),
    )
    if others:
        named = [
            f"{code(o['shard'])} {_per_second(f, _shard_value(f, o))}" for o in others[:SIBLINGS]
        ]
        more = len(others) - SIBLINGS
        text += (
            "; the other shards: " + ", ".join(named) + (f" and {more} more" if more > 0 else "")
        )
    return text + "."


def _of_shard(f: Findings, value: float | None, shard_value: float | None) -> str:
    amount = humanize.size(value) if f.rollups.basis == "bytes" else humanize.count(value)
    share = humanize.percent(value / shard_value) if value and shard_value else "—"
    return f"{amount} ({share})"


def _leader(ranked: pl.DataFrame, shard: str, column: str) -> dict[str, Any] | None:
    """The first row of `shard` in a ranked frame, when it has any of `column`."""
    top = ranked.filter(pl.col("shard") == shard).head(1)
    return top.row(0, named=True) if top.height and top[column][0] else None


def _cause(f: Findings) -> str:
    s = _busiest(f)
    if s is None:
        return ""
    r = f.rollups
    column = r.rank_column
    shard = s["shard"]
    total = s[column]
    unit = "bytes out" if r.basis == "bytes" else "client commands"
    parts = []
    sp = r.shard_patterns
    if sp.height and column in sp.columns:
        ranked = sp.filter(pl.col("key_pattern").is_not_null()).sort(
            [column, "key_pattern"], descending=[True, False], nulls_last=True
        )
        if p := _leader(ranked, shard, column):
            parts.append(
                f"key pattern {code(p['key_pattern'])} makes {_of_shard(f, p[column], total)} "
                f"of shard {code(shard)}'s {unit}"
            )
    if c := _leader(r.shard_commands, shard, column):
        parts.append(
            f"command {code(c['command'].upper())} {_of_shard(f, c[column], total)} in "
            f"{humanize.count(c['commands'])} of its {humanize.count(s['commands'])} commands"
        )
    if k := _leader(r.hot_keys, shard, column):
        parts.append(
            f"top key {code(k['key_name'])} {_of_shard(f, k[column], total)}, "
            f"mostly {code((k['top_command'] or '').upper())}"
        )
    if not parts:
        return ""
    text = "; ".join(parts) + "."
    sig = r.signatures.head(1)
    if sig.height and sig["share"][0]:
        g = sig.row(0, named=True)
        amount = humanize.size(g[column]) if r.basis == "bytes" else humanize.count(g[column])
        text += (
            f" Heaviest call in the input: {code(g['signature'], 100)}, "
            f"{humanize.count(g['commands'])} commands, {amount} "
            f"({humanize.percent(g['share'])} of all)."
        )
    return text


def recommendations(f: Findings) -> tuple[list[Recommendation], list[Recommendation]]:
    """The advice worth listing, and the advice about less than `NOISE` of the input (the first
    piece of advice is always listed)."""
    t = f.rollups.totals
    total = (t.est_bytes_out or 0) if f.rollups.basis == "bytes" else t.client
    small = [
        r
        for i, r in enumerate(f.recommendations)
        if i and r.weight > 0 and total and (r.saves_bytes or r.weight) < NOISE * total
    ]
    return [r for r in f.recommendations if r not in small], small


def _fix(f: Findings) -> str:
    recs = recommendations(f)[0]
    if not recs:
        return "nothing stands out to change."
    first = recs[0].text
    saves, s = recs[0].saves_bytes, _busiest(f)
    shard_bytes = _shard_value(f, s) if s is not None else None
    if saves and s is not None and shard_bytes:
        first += (
            f" Saving: {humanize.size(saves / f.rollups.duration)}/s, "
            f"{humanize.percent(saves / shard_bytes)} of shard {code(s['shard'])}'s "
            "bytes out."
        )
    more = len(recs) - 1
    if more:
        first += f" ({more} more under Recommendations.)"
    return first


def _how_sure(f: Findings) -> str:
    t = f.rollups.totals
    parts = [f.self_check.text]
    if t.est_bytes_out is not None and t.coverage is not None:
        parts.append(f"Reply size known for {humanize.percent(t.coverage)} of client commands.")
    lines = f.lines()
    problems = []
    if lines["errors"]:
        problems.append(f"{humanize.count(lines['errors'])} unparsable lines")
    if f.warnings:
        problems.append(f"{len(f.warnings)} warning(s)")
    if problems:
        parts.append("See Health: " + ", ".join(problems) + ".")
    return " ".join(parts)
