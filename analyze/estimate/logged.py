"""Replies Valkey logged (`COMMANDLOG large-reply`, capture/commandlog.py) as ground truth.

Each entry of the log is matched to a MONITOR line of its node by the second, the client's
`ip:port`, the command and its first argument (the log cuts arguments to 32 × 128 bytes: the key
is what both sides surely hold); several lines of one client, second and key take that group's
entries in order. A matched line's estimate is replaced by the logged bytes, confidence
`logged`. What the log held and how much of it matched is `coverage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.capture.format.manifest import Manifest

CONFIDENCE = "logged"
_ON = ["_sec", "client", "_cmd", "_key", "_n"]


def entries_frame(entries: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The log's entries of one node, ready to match (`_ON`, `_id`, `_bytes`)."""
    frame = pl.DataFrame(
        {
            "_id": [int(e["id"]) for e in entries],
            "_sec": [int(e["time"]) for e in entries],
            "_bytes": [int(e["bytes"]) for e in entries],
            "client": [str(e["client"]) for e in entries],
            "_cmd": [str(e["args"][0]).lower() if e["args"] else "" for e in entries],
            "_key": [str(e["args"][1]) if len(e["args"]) > 1 else None for e in entries],
        },
        schema={
            "_id": pl.Int64,
            "_sec": pl.Int64,
            "_bytes": pl.Int64,
            "client": pl.String,
            "_cmd": pl.String,
            "_key": pl.String,
        },
    )
    return frame.sort("_id").with_columns(
        _n=pl.int_range(pl.len()).over(["_sec", "client", "_cmd", "_key"])
    )


def by_node(manifests: Sequence[Manifest]) -> dict[str, pl.DataFrame]:
    """node -> its log's entries from the window, for the nodes whose log was read."""
    out = {}
    for m in manifests:
        for n in m.nodes:
            log = n.commandlog or {}
            if log.get("status") == "ok" and log.get("entries"):
                out[n.node] = entries_frame(log["entries"])
    return out


class Matcher:
    """One node's entries, each used once over the chunks of its source (file order)."""

    def __init__(self, entries: pl.DataFrame) -> None:
        self.entries = entries if entries.width else entries_frame([])
        self.seen: dict[tuple[Any, ...], int] = {}  # group -> rows of it in earlier chunks

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` (one chunk, file order) with the matched replies' bytes replaced."""
        if not self.entries.height or not rows.height:
            return rows
        group = ["_sec", "client", "_cmd", "_key"]
        keyed = rows.with_row_index("_row").with_columns(
            _sec=pl.col("ts").floor().cast(pl.Int64),
            _cmd=pl.col("command"),
            _key=pl.col("key_name"),
        )
        candidates = keyed.filter(pl.col("origin") == schema.ORIGIN_CLIENT).join(
            self.entries.select(group).unique(), on=group, how="semi", nulls_equal=True
        )
        if not candidates.height:
            return rows
        numbered = candidates.with_columns(_n=pl.int_range(pl.len()).over(group))
        offsets = pl.DataFrame(
            [(*k, v) for k, v in self.seen.items()],
            schema={
                "_sec": pl.Int64,
                "client": pl.String,
                "_cmd": pl.String,
                "_key": pl.String,
                "_before": pl.Int64,
            },
            orient="row",
        )
        numbered = (
            numbered.join(offsets, on=group, how="left", nulls_equal=True)
            .with_columns(_n=pl.col("_n") + pl.col("_before").fill_null(0))
            .drop("_before")
        )
        counts = numbered.group_by(group).agg(n=pl.len())
        for *key, n in counts.iter_rows():
            self.seen[tuple(key)] = self.seen.get(tuple(key), 0) + n
        matched = numbered.join(self.entries, on=_ON, how="inner", nulls_equal=True).select(
            "_row", "_bytes"
        )
        if not matched.height:
            return rows
        return (
            rows.with_row_index("_row")
            .join(matched, on="_row", how="left", maintain_order="left")
            .with_columns(
                reply_bytes=pl.coalesce("_bytes", "reply_bytes"),
                reply_confidence=pl.when(pl.col("_bytes").is_not_null())
                .then(pl.lit(CONFIDENCE))
                .otherwise(pl.col("reply_confidence")),
            )
            .drop("_row", "_bytes")
        )


def coverage(manifests: Sequence[Manifest], rows: pl.LazyFrame) -> list[dict[str, Any]]:
    """Per node whose log was read: entries in the window, how many matched a MONITOR line,
    entries lost (gaps in the ids), the threshold, and the logged bytes."""
    matched = dict(
        rows.filter(pl.col("reply_confidence") == CONFIDENCE)
        .group_by("node")
        .agg(pl.len())
        .collect()
        .iter_rows()
    )
    out = []
    for m in manifests:
        for n in m.nodes:
            log = n.commandlog
            if not log or log.get("status") != "ok":
                continue
            entries = log.get("entries") or []
            out.append(
                {
                    "node": n.node,
                    "threshold": log.get("threshold"),
                    "entries": len(entries),
                    "matched": int(matched.get(n.node, 0)),
                    "lost": log.get("lost", 0),
                    "logged_bytes": sum(int(e["bytes"]) for e in entries),
                }
            )
    return sorted(out, key=lambda r: r["node"])
