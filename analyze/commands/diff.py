"""`hotshard diff BEFORE AFTER`: what changed between two analyses, per shard, pattern, signature.

Rates, not totals: the two windows rarely have the same length, so every figure is per second of
its own window (client traffic only). Rows are sorted by the size of the change in bytes out per
second (then commands per second, then name), so the fix — or the regression — comes first.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.commands.analysis import Analysis, open_analysis
from hotshard.analyze.errors import BadInput
from hotshard.analyze.humanize import cell, code, rate, size
from hotshard.analyze.render.redact import Redactor

LEVELS = (("shard", "Shards"), ("key_pattern", "Key patterns"), ("signature", "Command signatures"))


def rates(a: Analysis, by: str) -> pl.DataFrame:
    """Client ops/s and estimated bytes-out/s per value of `by` over the analysis window."""
    return (
        a.commands()
        .filter(pl.col("origin") == schema.ORIGIN_CLIENT)
        .group_by(by)
        .agg(pl.len().alias("ops"), pl.col("reply_bytes").sum().alias("bytes"))
        .with_columns(
            (pl.col("ops") / a.duration).alias("ops_s"),
            (pl.col("bytes") / a.duration).alias("bytes_s"),
        )
        .select(pl.col(by).fill_null("(no key)").alias("name"), "ops_s", "bytes_s")
        .collect()
    )


def compare(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Full outer join of two `rates` frames with changes, sorted biggest change first."""
    joined = before.join(after, on="name", how="full", suffix="_after", coalesce=True)
    joined = joined.rename({"ops_s": "ops_s_before", "bytes_s": "bytes_s_before"}).with_columns(
        pl.col("ops_s_before", "bytes_s_before", "ops_s_after", "bytes_s_after").fill_null(0.0)
    )
    return joined.with_columns(
        (pl.col("bytes_s_after") - pl.col("bytes_s_before")).alias("bytes_s_change"),
        (pl.col("ops_s_after") - pl.col("ops_s_before")).alias("ops_s_change"),
    ).sort(
        [pl.col("bytes_s_change").abs(), pl.col("ops_s_change").abs(), pl.col("name")],
        descending=[True, True, False],
    )


def _change(before: float, after: float) -> str:
    if before == 0:
        return "new" if after else "—"
    return f"{(after - before) / before:+.1%}"


def to_markdown(
    before: Analysis, after: Analysis, tables: dict[str, pl.DataFrame], top: int
) -> str:
    lines = [f"# hotshard diff: {code(before.name, 200)} → {code(after.name, 200)}", ""]
    lines.append(
        f"Windows: {before.duration:.1f} s before, {after.duration:.1f} s after. Figures are per "
        "second of each window, client traffic only; bytes out are estimated reply bytes."
    )
    # Every client row has a shard, so the shard table's sums are the totals.
    b_total = float(tables["shard"]["bytes_s_before"].sum())
    a_total = float(tables["shard"]["bytes_s_after"].sum())
    lines += [
        "",
        f"**Bytes out: {size(b_total)}/s → {size(a_total)}/s ({_change(b_total, a_total)}).**",
    ]
    for column, title in LEVELS:
        df = tables[column]
        lines += ["", f"## {title}", ""]
        lines += [
            "| Name | ops/s before | ops/s after | Bytes/s before | Bytes/s after | Bytes/s change | Change |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in df.head(top).iter_rows(named=True):
            name = cell(code(str(r["name"]), 200))
            lines.append(
                f"| {name} | {rate(r['ops_s_before'])} | {rate(r['ops_s_after'])} | "
                f"{size(r['bytes_s_before'])} | {size(r['bytes_s_after'])} | "
                f"{size(r['bytes_s_change'])} | {_change(r['bytes_s_before'], r['bytes_s_after'])} |"
            )
        if df.height > top:
            lines.append(f"\n{df.height - top} more row(s) not shown (`--top`).")
    return "\n".join(lines) + "\n"


FOLLOWED = ("key_name", "key_pattern", "signature")  # recommendation levels diff can follow


def fixes(before: Analysis, after: Analysis) -> list[str]:
    """Did the recommended savings happen? One line per recommendation of `before` that names
    what it is about (summary.json `recommendations[].subject`/`level`)."""
    recs = [
        r
        for r in before.summary.get("recommendations", [])
        if r.get("subject") and r.get("level") in FOLLOWED
    ]
    if not recs:
        return []
    lines = ["", "## Recommended fixes", ""]
    lines += [
        "| Fix | About | Bytes/s before | Bytes/s after | Expected saving/s | Result |",
        "|---|---|---:|---:|---:|---|",
    ]
    tables = {level: compare(rates(before, level), rates(after, level)) for level in FOLLOWED}
    for r in recs:
        df = tables[r["level"]].filter(pl.col("name") == r["subject"])
        b = float(df["bytes_s_before"][0]) if df.height else 0.0
        a = float(df["bytes_s_after"][0]) if df.height else 0.0
        expected = r["saves_bytes"] / before.duration if r.get("saves_bytes") else None
        lines.append(
            f"| {r['kind']} | {cell(code(str(r['subject']), 120))} | {size(b)} | {size(a)} | "
            f"{size(expected)} | {_result(b, a, expected)} |"
        )
    return lines


def _result(before: float, after: float, expected: float | None) -> str:
    """`saved` once at least half the expected saving (or half the bytes) is gone."""
    drop = before - after
    want = expected if expected else before
    if before == 0:
        return "not seen before"
    if drop >= 0.5 * want:
        return f"saved {size(drop)}/s"
    return "not yet" if drop < 0.1 * want else f"partly: {size(drop)}/s"


def diff(before: Analysis, after: Analysis) -> dict[str, pl.DataFrame]:
    return {column: compare(rates(before, column), rates(after, column)) for column, _ in LEVELS}


def run_diff(
    before: str,
    after: str,
    top: int = 20,
    out: str | None = None,
    redactor: Redactor | None = None,
) -> str:
    """Compare two analyses (or captures, or logs); print markdown, optionally write it to `out`."""
    with (
        open_analysis(before, redactor=redactor) as b,
        open_analysis(after, redactor=redactor) as a,
    ):
        text = to_markdown(b, a, diff(b, a), top)
        followed = fixes(b, a)
        text += "\n".join(followed) + ("\n" if followed else "")
    print(text, end="")
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BadInput(
                f"--out {out}: cannot write it ({exc.strerror or exc}) — choose a writable path"
            ) from None
    return text
