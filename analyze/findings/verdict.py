"""Which shard is hot, by how much, and what to do about it — from the rollups, in plain words."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.findings import fixes, slotplan
from hotshard.analyze.findings.rollups import Rollups
from hotshard.analyze.measure.selfcheck import SelfCheck

HOT_SKEW = 2.0  # hottest shard at least this many times the median of the others: "hot"
SKEWED = 1.3  # between this and HOT_SKEW: "skewed"
PAGE = 100  # the page size recommendations assume
HOT_KEY_SHARE = 0.2  # a key above this share of its shard's load is worth a recommendation
HOT_SLOT_SHARE = 0.5


@dataclass(frozen=True)
class Verdict:
    """The hot-shard verdict.

    status: "hot", "skewed", "balanced", "single" (one shard: nothing to compare), "idle" (no
      client traffic).
    basis: "bytes" (estimated reply bytes) or "commands" (client commands; reply sizes unknown).
    skew: hottest shard's value / median of the other shards' values; None when not defined
      (one shard, or the others are all zero).
    estimate: what a shard's bytes are, when basis is "bytes": "full" (modelled replies plus the
      parts MONITOR does not show, per node as the self-check counts them: the capture has
      server counters) or "modelled" (modelled replies only: plain logs, a node without
      counters, or a sub-window); None for "commands".
    values: each shard's value the verdict compared, in the basis' unit.
    """

    status: str
    basis: str
    hot_shard: str | None
    skew: float | None
    hot_value: float
    others_median: float | None
    text: str
    estimate: str | None = None
    values: dict[str, float] = field(default_factory=dict)


# The one short phrase that says which estimate the verdict ranks by.
_LABELS = {
    "full": "estimated bytes out including what MONITOR does not show",
    "modelled": "modelled reply bytes",
}


def _label(basis: str, estimate: str | None = None) -> str:
    return _LABELS[estimate or "modelled"] if basis == "bytes" else "client commands"


# Not-shown parts that are not bytes to clients: a replica's acks go to its primary.
_NOT_TO_CLIENTS = frozenset({"replication"})


def full_estimates(r: Rollups, check: SelfCheck | None) -> dict[str, float] | None:
    """Each shard's full estimate of client bytes out — per monitored node, modelled replies plus
    the parts MONITOR does not show (the self-check's), summed over the shard's nodes — when
    every monitored node has server counters over the whole capture; None otherwise (plain
    logs, a node without counters, a sub-window: then the modelled replies rank the shards).

    A shard's nodes are the monitored ones, as in the rollups: a replica-only capture compares
    the replicas that serve the reads, never a primary nobody captured.
    """
    if r.basis != "bytes" or check is None or not check.nodes or check.window is not None:
        return None
    if any(n.measured is None for n in check.nodes):
        return None
    values: dict[str, float] = {}
    for n in check.nodes:
        to_clients = sum(p.bytes or 0 for p in n.parts if p.kind not in _NOT_TO_CLIENTS)
        values[n.shard] = values.get(n.shard, 0.0) + n.modelled_bytes + to_clients
    shards = set(r.shards["shard"].to_list())
    if not shards <= values.keys():  # a shard seen only in logs: no like-for-like comparison
        return None
    return {s: v for s, v in values.items() if s in shards}


def _show(basis: str, value: float | None) -> str:
    return humanize.size(value) if basis == "bytes" else humanize.count(value)


def verdict(r: Rollups, check: SelfCheck | None = None) -> Verdict:
    """The verdict from the rollups; with the self-check (`check`) of a capture with server
    counters, shards rank by their full estimate (`full_estimates`)."""
    basis = r.basis
    column = r.rank_column
    full = full_estimates(r, check)
    estimate = None if basis != "bytes" else "full" if full is not None else "modelled"
    values = (
        full
        if full is not None
        else {
            shard: float(v or 0)
            for shard, v in r.shards.select("shard", column).sort("shard").iter_rows()
        }
    )
    result = _verdict(basis, estimate, values)
    return replace(result, estimate=estimate, values=dict(sorted(values.items())))


def _verdict(basis: str, estimate: str | None, values: dict[str, float]) -> Verdict:
    if not values or max(values.values()) == 0:
        return Verdict("idle", basis, None, None, 0.0, None, "No client traffic was captured.")
    # Hottest first; ties go to the smaller shard name so the verdict is deterministic.
    hot, hot_value = min(values.items(), key=lambda kv: (-kv[1], kv[0]))
    name = humanize.printable(hot)  # a label from the input: inert in the report and console
    if len(values) == 1:
        return Verdict(
            "single",
            basis,
            hot,
            None,
            hot_value,
            None,
            f"Only one shard ({name}) in the input: nothing to compare it with.",
        )
    others = [v for s, v in values.items() if s != hot]
    median = statistics.median(others)
    what = _label(basis, estimate)
    n = len(others)
    vs = f"the median of the other {n} shards" if n > 1 else "the other shard"
    if median == 0:
        rest = f"the median of the other {n} shards is 0" if n > 1 else "the other shard has none"
        text = f"Shard {name} is hot: {_show(basis, hot_value)} of the {what}, while {rest}."
        return Verdict("hot", basis, hot, None, hot_value, 0.0, text)
    skew = hot_value / median
    status = "hot" if skew >= HOT_SKEW else "skewed" if skew >= SKEWED else "balanced"
    amounts = f"{_show(basis, hot_value)} vs {_show(basis, median)}"
    if status == "balanced":
        text = (
            f"No shard stands out: the busiest, {name}, has {humanize.ratio(skew)} {vs} "
            f"by {what} ({amounts})."
        )
    else:
        adjective = "hot" if status == "hot" else "somewhat busier than the rest"
        text = f"Shard {name} is {adjective}: {humanize.ratio(skew)} {vs} by {what} ({amounts})."
    return Verdict(status, basis, hot, skew, hot_value, median, text)


@dataclass(frozen=True)
class Recommendation:
    # full-read | big-value | read-hot | write-hot | hot-key | hash-tag | hot-slot | script |
    # keys-command | no-bytes | balanced
    kind: str
    text: str  # markdown, one paragraph
    saves_bytes: int | None = None  # estimated bytes out saved over the capture, when known
    weight: float = 0  # what it is about, in the rankings' unit (bytes or commands): the order
    subject: str | None = None  # what `hotshard diff` follows: a key, pattern, signature, tag
    level: str | None = None  # key_name | key_pattern | signature | hash_tag


def _from_fix(f: fixes.Fix) -> Recommendation:
    return Recommendation(f.kind, f.text, f.saves_bytes, f.weight, f.subject, f.level)


_PAGING = {
    "zrevrange": "read it in pages (`ZREVRANGE key 0 99`, then the next 100 only when needed)",
    "zrange": "read it in pages (`ZRANGE key 0 99`) or cap it with `LIMIT 0 100`",
    "lrange": "read it in pages (`LRANGE key 0 99`)",
    "zrangebyscore": "add `LIMIT 0 100` and page through the range",
    "zrevrangebyscore": "add `LIMIT 0 100` and page through the range",
    "zrangebylex": "add `LIMIT 0 100` and page through the range",
    "zrevrangebylex": "add `LIMIT 0 100` and page through the range",
    "xrange": "add `COUNT 100` and page through the stream",
    "xrevrange": "add `COUNT 100` and page through the stream",
    "hgetall": "fetch only the fields you need (`HMGET`), or iterate with `HSCAN`",
    "hkeys": "iterate with `HSCAN` instead of reading every field",
    "hvals": "fetch only the fields you need (`HMGET`), or iterate with `HSCAN`",
    "smembers": "iterate with `SSCAN`, or test membership with `SISMEMBER`",
}
_PAGEABLE = {"zrevrange", "zrange", "lrange", "zrangebyscore", "zrevrangebyscore", "xrange"}


def recommendations(
    r: Rollups,
    v: Verdict,
    key_sizes: pl.DataFrame | None = None,
    limit: int = 8,
    context: fixes.Context | None = None,
) -> list[Recommendation]:
    """Plain-language advice, biggest estimated saving first. `context` (per-key evidence,
    replicas, slot ranges: analyze/findings/fixes.py) turns the hot-key advice into a fix per kind."""
    ctx = context or fixes.Context()
    recs: list[Recommendation] = []
    recs += _full_reads(r, key_sizes)
    recs += _hot_keys(r, v, ctx)
    recs += _hot_slots(r, v, ctx)
    recs += [_from_fix(f) for f in fixes.for_scripts(r.signatures, r.basis, ctx)]
    keys_cmd = int(r.shard_commands.filter(pl.col("command") == "keys")["commands"].sum())
    if keys_cmd:
        recs.append(
            Recommendation(
                "keys-command",
                f"`KEYS` ran {humanize.count(keys_cmd)} times: it walks the whole keyspace and "
                "blocks the server meanwhile. Use `SCAN` with a `MATCH` pattern.",
            )
        )
    if r.basis == "commands" and r.totals.client:
        recs.append(
            Recommendation(
                "no-bytes",
                "Reply sizes are unknown for most commands, so this report ranks by command "
                "count, not bytes out. A capture folder with sampled key sizes "
                "(`hotshard capture` samples them after the window) ranks by bytes instead.",
            )
        )
    if v.status == "balanced":
        recs.append(
            Recommendation(
                "balanced",
                "The captured traffic is balanced across shards. If CloudWatch still shows one "
                "node hot, check that the capture covered the node serving the reads (replicas "
                "vs primary) and the busy period.",
            )
        )
    order = {
        "full-read": 0,
        "big-value": 1,
        "read-hot": 1,
        "write-hot": 1,
        "hot-key": 1,
        "hash-tag": 2,
        "hot-slot": 2,
        "script": 3,
        "keys-command": 4,
    }
    recs.sort(
        key=lambda x: (
            -(x.saves_bytes if x.saves_bytes is not None else x.weight),
            order.get(x.kind, 9),
            x.text,
        )
    )
    return recs[:limit]


def _times(n: int) -> str:
    return "once" if n == 1 else f"{humanize.count(n)} times"


def _cardinalities(key_sizes: pl.DataFrame | None) -> dict[str, int]:
    if key_sizes is None or key_sizes.is_empty() or "cardinality" not in key_sizes.columns:
        return {}
    df = (
        key_sizes.filter(pl.col("cardinality").is_not_null())
        .group_by("key")
        .agg(pl.col("cardinality").max())
    )
    return dict(df.sort("key").iter_rows())


def _full_reads(r: Rollups, key_sizes: pl.DataFrame | None) -> list[Recommendation]:
    ops = r.large_ops
    if ops.is_empty():
        return []
    cards = _cardinalities(key_sizes)
    ops = ops.with_columns(
        cardinality=pl.col("key_name").replace_strict(cards, default=None, return_dtype=pl.Int64),
        key_pattern=pl.coalesce("key_pattern", "key_name"),
    )
    # Advice per access pattern (command | key pattern | arguments), not per dated key.
    groups = ops.group_by("command", "key_pattern", "arg_shape").agg(
        commands=pl.col("commands").sum(),
        est_bytes_out=pl.col("est_bytes_out").sum(),
        bytes_known=pl.col("bytes_known").sum(),
        shards=pl.col("shard").unique().sort().str.join(", "),
        keys=pl.col("key_name").n_unique(),
        example=pl.col("key_name")
        .sort_by("commands", "key_name", descending=[True, False])
        .first(),
        cardinality=pl.col("cardinality").max(),
    )
    rank = r.rank_column
    groups = groups.sort(
        [rank, "commands", "command", "key_pattern", "arg_shape"],
        descending=[True, True, False, False, False],
        nulls_last=True,
    ).head(3)
    out = []
    for g in groups.iter_rows(named=True):
        cmd = g["command"]
        call = f"{cmd.upper()} {g['key_pattern']} {g['arg_shape'] or ''}".strip()
        shards = humanize.printable(g["shards"])
        where = f"shard {shards}" if "," not in shards else f"shards {shards}"
        keys = f"{g['keys']} keys" if g["keys"] > 1 else f"key {humanize.code(g['example'])}"
        bytes_known = g["bytes_known"] > 0
        amount = f", {humanize.size(g['est_bytes_out'])} out" if bytes_known else ""
        size = f" of {humanize.count(g['cardinality'])} elements" if g["cardinality"] else ""
        saves = None
        if bytes_known and cmd in _PAGEABLE and g["cardinality"] and g["cardinality"] > PAGE:
            saves = int(g["est_bytes_out"] * (1 - PAGE / g["cardinality"]))
        text = (
            f"{humanize.code(call, 120)} read the whole value{size} {_times(g['commands'])} "
            f"({keys}, {where}{amount}). If the application needs only part of it, "
            f"{_PAGING.get(cmd, 'read only the part you need')}"
        )
        if saves:
            text += f": reading {PAGE} elements instead would save about {humanize.size(saves)}."
        else:
            text += "; or cache the result on the client."
        weight = float(g[rank] or 0)
        level = "key_pattern" if g["key_pattern"] != g["example"] or g["keys"] > 1 else "key_name"
        out.append(Recommendation("full-read", text, saves, weight, g["key_pattern"], level))
    return out


def _hot_keys(r: Rollups, v: Verdict, ctx: fixes.Context) -> list[Recommendation]:
    # Keys read whole already have their advice (page the read).
    whole = set(r.large_ops.select("shard", "key_name").iter_rows())
    keys = r.hot_keys.filter(pl.col("share_of_shard") >= HOT_KEY_SHARE)
    if v.hot_shard is not None and v.status in ("hot", "skewed"):
        keys = keys.filter(pl.col("shard") == v.hot_shard)
    out: list[Recommendation] = []
    what = "bytes out" if r.basis == "bytes" else "client commands"
    for k in keys.iter_rows(named=True):
        if (k["shard"], k["key_name"]) in whole:
            continue
        if len(out) == 3:
            break
        fix = fixes.for_key(k, _evidence(ctx, k), ctx, r.duration, r.basis)
        if fix is not None:
            out.append(_from_fix(fix))
            continue
        out.append(
            Recommendation(
                "hot-key",
                f"Key {humanize.code(k['key_name'])} alone makes {humanize.percent(k['share_of_shard'])} of "
                f"shard {humanize.printable(k['shard'])}'s {what} ({humanize.count(k['commands'])} commands, "
                f"{humanize.rate(k['ops_per_s'])}/s, mostly {(k['top_command'] or '').upper()})."
                " One key always lives on one shard: cache it on the client, or split it into "
                "several keys with different hash tags so the load spreads over shards.",
                weight=float(k[r.rank_column] or 0),
            )
        )
    return out


def _evidence(ctx: fixes.Context, k: dict) -> dict | None:
    if ctx.evidence is None:
        return None
    rows = ctx.evidence.filter(
        (pl.col("shard") == k["shard"]) & (pl.col("key_name") == k["key_name"])
    )
    return rows.row(0, named=True) if rows.height else None


def _hot_slots(r: Rollups, v: Verdict, ctx: fixes.Context) -> list[Recommendation]:
    if v.status not in ("hot", "skewed") or v.hot_shard is None:
        return []
    slots = r.slots.filter(
        (pl.col("shard") == v.hot_shard)
        & (pl.col("share_of_shard") >= HOT_SLOT_SHARE)
        & (pl.col("distinct_keys") > 1)
    )
    out = []
    for s in slots.head(1).iter_rows(named=True):
        # One key making most of the slot is a hot key (advised above), not a slot problem.
        in_slot = r.hot_keys.filter((pl.col("shard") == s["shard"]) & (pl.col("slot") == s["slot"]))
        top_key = float(in_slot[r.rank_column].max() or 0) if in_slot.height else 0.0  # type: ignore[arg-type]
        if top_key >= 0.5 * float(s[r.rank_column] or 0):
            continue
        names = in_slot.sort(r.rank_column, "key_name", descending=[True, False], nulls_last=True)
        tag = slotplan.hash_tag(names["key_name"][0]) if names.height else None
        if tag is not None:
            out.append(_from_fix(fixes.for_tag(s, tag, ctx, r.basis)))
            continue
        out.append(
            Recommendation(
                "hot-slot",
                f"Slot {s['slot']} carries {humanize.percent(s['share_of_shard'])} of shard "
                f"{humanize.printable(s['shard'])}'s load over {humanize.count(s['distinct_keys'])} keys (shared hash "
                "tag?). Keys in one slot cannot be spread by resharding: give them different "
                "hash tags, or move this slot to an idle shard if the rest is balanced.",
                weight=float(s[r.rank_column] or 0),
            )
        )
    return out
