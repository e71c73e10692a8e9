"""The findings of one analysis, complete when built: rollups, verdict, recommendations,
self-check, timeline, slot plan and the measured bytes beside them.

Takes the rows dataset (`dataset.Tables` with the partial rollups made while it was written),
the resolved inputs and the window; hands on one `Findings` value that every renderer reads.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from hotshard.analyze.estimate import logged
from hotshard.analyze.estimate.replication import write_commands
from hotshard.analyze.findings import fixes, migrations, rollups, slotload, slotplan, timeline
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.findings.partials import Partials
from hotshard.analyze.findings.verdict import (
    HOT_KEY_SHARE,
    Verdict,
    recommendations,
    verdict,
)
from hotshard.analyze.measure import bandwidth, cloudwatch, reconcile, selfcheck, slotstats
from hotshard.analyze.read.inputs import Inputs
from hotshard.analyze.read.window import Window
from hotshard.analyze.store import dataset


def build(
    found: dataset.Tables,
    partials: Partials,
    inputs: Inputs,
    line_stats: pl.DataFrame,
    window: Window,
    *,
    duration: float | None = None,
    top: int = 20,
    tolerance: float = selfcheck.TOLERANCE,
    per_minute: pl.DataFrame | None = None,
    region: str | None = None,
    database: bool = True,
) -> Findings:
    """Everything found in `found`. `duration`: the seconds the lines cover when shorter than
    the window (a plain log whose clock stepped); `per_minute`: CloudWatch NetworkBytesOut per
    node and minute (`cloudwatch.bytes_out`), when fetched; `database`: hotshard.db is written."""
    r = rollups.compute(
        found,
        partials=partials,
        span=window.span(),
        duration=duration,
        shards_known=inputs.shards_known,
        nodes_known=inputs.nodes_known,
    )
    check = selfcheck.build(
        inputs.manifests,
        found.rows,
        inputs.commands_reply,
        tolerance,
        (window.since, window.until),
    )
    _migrations(found, inputs)
    v = _noted(verdict(r, check), inputs)
    recs = recommendations(r, v, cardinalities(inputs), context=_fix_context(found, r, inputs))
    # the plan's shard loads are the verdict's: one skew everywhere
    load = slotload.from_rollups(r, inputs.manifests, inputs.key_sizes, v.values)
    return Findings(
        inputs=inputs.infos,
        window=window,
        line_stats=line_stats,
        rollups=r,
        verdict=v,
        recommendations=recs,
        top=top,
        warnings=inputs.warnings,
        measured_bytes_out={
            n.node: reconcile.measured_bytes_out(n)
            for m in inputs.manifests
            for n in m.nodes
            if n.monitored
        },
        cloudwatch_bytes_out=cloudwatch.node_totals(per_minute),
        slot_stats=slotstats.measured(inputs.manifests),
        commandlog=logged.coverage(inputs.manifests, found.rows),
        database=database,
        timeline=timeline.build(r, window, inputs.manifests, per_minute),
        node_ids={
            n.node: n.aws_node_id for m in inputs.manifests for n in m.nodes if n.aws_node_id
        },
        self_check=check,
        plan=slotplan.build(load) if load is not None else None,
        network=bandwidth.measure(inputs.manifests, window, region, per_minute, check, r.duration),
        slot_ranges=sorted(
            {(s.shard, a, b) for m in inputs.manifests for s in m.shards for a, b in s.slots},
            key=lambda x: (x[1], x[2], x[0]),
        ),
    )


def _migrations(found: dataset.Tables, inputs: Inputs) -> None:
    """Health says what a node that changed role served in each role, and names the slots
    whose keys were migrated though the two topologies do not show them moved (away and back);
    those shards join the verdict's note on moved slots."""
    for change in inputs.role_changed:
        at = inputs.warnings.index(change.text)
        inputs.warnings[at] = migrations.role_change_note(change, found.rows)
    unseen = migrations.unseen_moves(
        migrations.imported(found.rows, found.keys), inputs.moved_slots, inputs.manifests
    )
    if unseen is not None:
        shards, note = unseen
        inputs.warnings.append(note)
        inputs.slot_moves += [s for s in shards if s not in inputs.slot_moves]


def _noted(v: Verdict, inputs: Inputs) -> Verdict:
    """The verdict, saying so when the roles or slots it compares did not hold throughout."""
    if inputs.role_changes:
        v = dataclasses.replace(
            v,
            text=f"{v.text} Note: a monitored node of shard {', '.join(inputs.role_changes)} "
            "changed role during the window (a failover: see Health) — reads moved between "
            "nodes mid-window, so this comparison mixes before and after.",
        )
    if inputs.slot_moves:  # a reshard: per-shard numbers of the moved slots are mixed
        v = dataclasses.replace(
            v,
            text=f"{v.text} Note: slots moved between shards {', '.join(inputs.slot_moves)} "
            "during the window (a reshard: see Health) — per-shard numbers for those slots "
            "mix their old and new owner.",
        )
    return v


def _fix_context(found: dataset.Tables, r: rollups.Rollups, inputs: Inputs) -> fixes.Context:
    """Evidence for the hot keys' fixes: one filtered pass over the rows of a few keys."""
    hot = r.hot_keys.filter(pl.col("share_of_shard") >= HOT_KEY_SHARE).head(20)
    rows = None
    if not hot.is_empty():
        rows = fixes.evidence(found, hot, write_commands(inputs.commands_reply))
    scripts = fixes.script_bytes(found) if r.totals.script else 0
    return fixes.context(rows, inputs.manifests, scripts)


def cardinalities(inputs: Inputs) -> pl.DataFrame | None:
    """key -> its sampled cardinality (capture folders with key sizes), None without."""
    rows = [(k.key, k.cardinality) for k in inputs.key_sizes if k.cardinality is not None]
    if not rows:
        return None
    return pl.DataFrame(rows, schema={"key": pl.String, "cardinality": pl.Int64}, orient="row")
