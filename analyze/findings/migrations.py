"""Failovers and slot migrations during the window, with what the MONITOR stream shows.

A node whose role changed (`inputs.role_change`, from the capture's polls) is told with what it
served in each role (`role_change_note`).


The capture reads slot ownership at the start and again after the window (`slots_after`): a
slot whose owner differs is named by `inputs.slot_moves`. A slot moved away and back, or a
migration still under way when the window ended, has the same owner at both ends; its trace is
in the stream: each key arriving in a shard is a `RESTORE-ASKING` line there (sent by the
source node's MIGRATE, and replicated as is to the target's replicas, which the capture
monitors by default). MOVED and ASK replies never appear in MONITOR (docs/MONITOR.md), so the
lines the keys arrive with, and the topology read at both ends, are what there is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import polars as pl

from hotshard.analyze import humanize, schema
from hotshard.analyze.read.inputs import RoleChange, slot_text
from hotshard.capture.format.manifest import Manifest


def imported(rows: pl.LazyFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Per shard and slot, the RESTORE-ASKING lines seen (`lines`), sorted by shard and slot
    (`rows`: schema.COMMANDS; `keys`: schema.KEYS, for the slot of each key id)."""
    return (
        rows.filter(pl.col("command") == "restore-asking")
        .select("shard", "key_id")
        .join(keys.lazy().select("key_id", "slot"), on="key_id", how="inner")
        .filter(pl.col("slot").is_not_null())
        .group_by("shard", "slot")
        .agg(lines=pl.len())
        .sort("shard", "slot")
        .collect()
    )


def unseen_moves(
    imports: pl.DataFrame, moved: Collection[int], manifests: Sequence[Manifest]
) -> tuple[list[str], str] | None:
    """(the shards involved, a Health note) for keys migrated during the window into slots that
    the start and end topologies do not show as moved (`moved`); None when there are none."""
    rest = imports.filter(~pl.col("slot").is_in(list(moved)))
    if rest.is_empty():
        return None
    slots = sorted(set(rest["slot"].to_list()))
    into = [
        f"{humanize.count(int(n))} into shard {shard}"
        for shard, n in rest.group_by("shard").agg(pl.col("lines").sum()).sort("shard").iter_rows()
    ]
    shards = sorted(set(rest["shard"].to_list()))
    reread = bool(manifests) and all(m.slots_after is not None for m in manifests)
    why = (
        "yet the owner after the window is the owner at its start: moved away and back, or a "
        "migration left unfinished"
        if reread
        else "slot ownership was not re-read after the window, so whether it changed owner is "
        "unknown"
    )
    text = (
        f"keys of {slot_text(slots)} were migrated between shards during the window "
        f"(RESTORE-ASKING lines: {', '.join(into)}), {why} — per-shard numbers for those slots "
        "may mix their owners (MONITOR never shows MOVED/ASK replies: the capture reads slot "
        "ownership before and after the window, and these lines are the trace in between)"
    )
    return shards, text


def role_change_note(change: RoleChange, rows: pl.LazyFrame) -> str:
    """`change.text` with the node's client commands in its old role (up to its last reading
    in it), between the two readings, and in its new role (from its first reading in it)."""
    if change.last_before is None or change.first_after is None:
        return change.text
    ts = pl.col("ts")
    before, between, after = (
        rows.filter(pl.col("node") == change.node, pl.col("origin") == schema.ORIGIN_CLIENT)
        .select(
            before=(ts <= change.last_before).sum(),
            between=((ts > change.last_before) & (ts < change.first_after)).sum(),
            after=(ts >= change.first_after).sum(),
        )
        .collect()
        .row(0)
    )
    return (
        f"{change.text}; it served {humanize.count(int(before or 0))} client commands as a "
        f"{change.before}, {humanize.count(int(between or 0))} between the two readings and "
        f"{humanize.count(int(after or 0))} as a {change.after}"
    )
