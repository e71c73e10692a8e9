"""The load per slot a slot plan is made from (`slotplan.SlotLoad`), through two doors: the
analyzer's rollups (for the report's section) and an analysis output's rows (for `hotshard plan`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.findings import slotplan
from hotshard.analyze.findings.rollups import Rollups
from hotshard.analyze.findings.slotplan import BigKey, Primary, SlotLoad
from hotshard.analyze.keys.slots import hash_slot
from hotshard.capture.format.manifest import KeySize, Manifest


def primaries(manifests: Iterable[Manifest]) -> dict[str, Primary]:
    """shard -> its primary (address, engine id, server), from the captures' topology."""
    out: dict[str, Primary] = {}
    for m in manifests:
        for n in sorted(m.nodes, key=lambda n: (n.shard, n.node)):
            if n.role == "primary" and n.shard not in out:
                out[n.shard] = Primary(n.node, n.cluster_node_id, n.server_name, n.server_version)
    return out


def big_keys(rows: Iterable[dict[str, object]], shard_of: dict[str, str]) -> tuple[BigKey, ...]:
    """Sampled keys with their MEMORY USAGE (rows: node, key, key_b64, memory_usage)."""
    out = {}
    for r in rows:
        usage = r.get("memory_usage")
        if not isinstance(usage, int) or usage <= slotplan.MIGRATION_LIMIT:
            continue
        raw = r.get("key_b64")
        key = str(r["key"])
        data = base64.b64decode(str(raw)) if raw else key.encode()
        node = str(r.get("node"))
        out[key] = BigKey(key, hash_slot(data), shard_of.get(node), usage)
    return tuple(out[k] for k in sorted(out))


def from_rollups(
    r: Rollups,
    manifests: Sequence[Manifest] = (),
    key_sizes: Sequence[KeySize] = (),
    totals: Mapping[str, float] | None = None,
) -> SlotLoad | None:
    """The load per slot the report's rollups hold (None with fewer than two shards).
    `totals`: each shard's load as the verdict compared it (`Verdict.values`: with server
    counters, the full estimate), so the plan's skew is the headline's; what the slots do not
    hold (what MONITOR does not show) is the shard's load tied to no slot."""
    if r.shards.height < 2 or r.slots.is_empty():
        return None
    value = r.rank_column
    shard_of = {n.node: n.shard for m in manifests for n in m.nodes}
    return slotplan.from_frames(
        r.basis,
        r.slots.select("shard", "slot", "distinct_keys", value=pl.col(value).fill_null(0)),
        _shard_totals(r.shards.select("shard", value=pl.col(value).fill_null(0)), totals),
        r.hot_keys.select("shard", "slot", "key_name", value=pl.col(value).fill_null(0)),
        window=(r.totals.first_ts, r.totals.last_ts),
        duration=r.duration,
        big_keys=big_keys((vars(k) for k in key_sizes), shard_of),
        primaries=primaries(manifests),
    )


def _shard_totals(shards: pl.DataFrame, totals: Mapping[str, float] | None) -> pl.DataFrame:
    """`shards` {shard, value}, each value replaced by the verdict's (`totals`) when it has
    every shard (a verdict over other shards compares something else)."""
    names = shards["shard"].to_list()
    if not totals or not set(names) <= totals.keys():
        return shards
    return shards.with_columns(value=pl.Series([round(totals[s]) for s in names], dtype=pl.Int64))


def from_rows(
    rows: pl.LazyFrame,
    basis: str,
    window: tuple[float | None, float | None],
    duration: float,
    manifests: Sequence[Manifest] = (),
    key_sizes: pl.DataFrame | None = None,
    totals: Mapping[str, float] | None = None,
) -> SlotLoad:
    """The load per slot from an analysis' rows (`tables.wide()`), client traffic only;
    `totals` as in `from_rollups` (summary.json `hot_shard.values`)."""
    value = pl.col("reply_bytes").fill_null(0).sum() if basis == "bytes" else pl.len()
    client = rows.filter(pl.col("origin") == schema.ORIGIN_CLIENT)
    keys = (
        client.filter(pl.col("key_name").is_not_null())
        .group_by("shard", "slot", "key_name")
        .agg(value=value.cast(pl.Int64))
    )
    slots = (
        keys.filter(pl.col("slot").is_not_null())
        .group_by("shard", "slot")
        .agg(value=pl.col("value").sum(), distinct_keys=pl.len().cast(pl.Int64))
    )
    shards = client.group_by("shard").agg(value=value.cast(pl.Int64))
    keys_df, slots_df, shards_df = pl.collect_all([keys, slots, shards])
    shards_df = _shard_totals(shards_df, totals)
    shard_of = {n.node: n.shard for m in manifests for n in m.nodes}
    return slotplan.from_frames(
        basis,
        slots_df,
        shards_df,
        keys_df,
        window=window,
        duration=duration,
        big_keys=big_keys(key_sizes.to_dicts() if key_sizes is not None else (), shard_of),
        primaries=primaries(manifests),
    )
