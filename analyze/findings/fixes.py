"""A fix per hot key, chosen by what the capture saw it do (read by analyze/findings/verdict.py).

Kinds, each with its evidence (commands, clients, bytes, share of the shard) and its saving:

- `big-value`: a large value read whole by a command that cannot page (GET of a big string);
- `read-hot`: many reads of a small value — client-side caching (RESP3 `CLIENT TRACKING`)
  refetches it once per connection per change, so the saving is the reads beyond
  connections × (writes + 1);
- `write-hot`: mostly writes — each write is sent once per replica; coalescing them in the
  application to 10 writes/s saves the rest of the replication stream;
- `hash-tag`: many keys of one `{tag}` in one slot — a suffix (`{tag:0}`..`{tag:N-1}`) spreads
  them, with the slots and shards those tags land on;
- `script`: a script or multi-key read (EVAL/EVALSHA/FCALL/MGET) pulling a large total.

`saves_bytes` is over the capture window; `subject`/`level` name what `hotshard diff` follows
to tell whether the saving happened (analyze/commands/diff.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from hotshard.analyze import humanize, schema
from hotshard.analyze.keys.slots import hash_slot
from hotshard.analyze.store.dataset import Tables, client_columns

BIG_VALUE = 64_000  # an average reply above this is a big value
WRITE_HOT = 0.5  # writes above this share of a key's commands: write-hot
COALESCED_WRITES_PER_S = 10
TAG_SPREAD = 8  # the suffix count the hash-tag advice proposes
SCRIPT_SHARE = 0.1  # a script/multi-key signature above this share of bytes gets advice
READ_HOT_MIN = 100  # fewer reads than this over the window is not "read-hot"
SCRIPTS = ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "mget")


@dataclass(frozen=True)
class Context:
    """What the fixes need beside the rollups."""

    evidence: pl.DataFrame | None = None  # per hot key (`evidence`)
    replicas: dict[str, int] = field(default_factory=dict)  # shard -> replicas
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # shard -> slots
    script_bytes: int = 0  # reply bytes of scripts' own `redis.call`s (what scripts pulled)


def evidence(t: Tables, hot: pl.DataFrame, writes: frozenset[str]) -> pl.DataFrame:
    """Per (shard, key) of `hot`: reads, writes, reply bytes of reads, request bytes of writes,
    client IPs and connections, and the signature used most (client rows only).

    Every step here is one the streaming engine runs in memory bounded by the keys, not the
    rows: a join of the rows with the key ids, `mode()`, `n_unique()` and `filter()` inside
    `agg` held the rows of the hot keys (or all of them) at once, so memory grew with the
    capture's length (docs/BENCHMARKS.md, session 8)."""
    ids = t.keys.join(hot.select("key_name").unique(), on="key_name").select("key_id", "key_name")
    _, ip = client_columns(pl.col("client"))
    write = pl.col("command").is_in(sorted(writes))
    # A filter on a list of ids, not a join: joined, the rows were buffered whole.
    rows = t.rows.filter(
        (pl.col("origin") == schema.ORIGIN_CLIENT) & pl.col("key_id").is_in(ids["key_id"].implode())
    )
    sums = (
        rows.with_columns(write=write)
        .group_by("shard", "key_id")
        .agg(
            reads=(~pl.col("write")).sum().cast(pl.Int64),
            writes=pl.col("write").sum().cast(pl.Int64),
            read_bytes=pl.when(~pl.col("write")).then(pl.col("reply_bytes")).sum(),
            write_request_bytes=pl.when(pl.col("write")).then(pl.col("request_bytes")).sum(),
        )
    )
    # Distinct values first, then counted: `n_unique()` in the aggregation is not streamed
    # (the whole input was held at once). A connection's IP is read once per connection.
    conns = rows.select("shard", "key_id", "client").unique()
    connections = _count(conns, "connections")
    clients = _count(
        conns.select("shard", "key_id", client=pl.coalesce(ip, "client")).unique(), "clients"
    )
    used = (
        rows.group_by("shard", "key_id", "signature_id")
        .agg(n=pl.len())
        .join(t.signatures.lazy().select("signature_id", "signature"), on="signature_id")
        .filter(pl.col("signature").is_not_null())
        .group_by("shard", "key_id")
        .agg(
            signature=pl.col("signature")
            .sort_by("n", "signature", descending=[True, False])
            .first()
        )
    )
    return (
        sums.join(clients, on=["shard", "key_id"])
        .join(connections, on=["shard", "key_id"])
        .join(used, on=["shard", "key_id"], how="left")
        .join(ids.lazy(), on="key_id")
        .select(
            "shard",
            "key_name",
            "reads",
            "writes",
            "read_bytes",
            "write_request_bytes",
            "clients",
            "connections",
            "signature",
        )
        .sort("shard", "key_name")
        .collect()
    )


def _count(lf: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Per (shard, key_id): how many rows `lf` has."""
    return lf.group_by("shard", "key_id").agg(pl.len().cast(pl.Int64).alias(name))


@dataclass(frozen=True)
class Fix:
    kind: str
    text: str
    saves_bytes: int | None
    weight: float
    subject: str
    level: str  # the `hotshard diff` column the subject is a value of


def for_key(k: dict, e: dict | None, ctx: Context, duration: float, basis: str) -> Fix | None:
    """The fix for one hot key row of the rollups (`k`) with its evidence row (`e`)."""
    if e is None:
        return None
    key = humanize.code(k["key_name"])
    shard = humanize.printable(k["shard"])
    share = humanize.percent(k["share_of_shard"])
    total = e["reads"] + e["writes"]
    who = f"{humanize.count(e['clients'])} client(s), {humanize.count(e['connections'])} connection(s)"
    sig = f"; mostly {humanize.code(e['signature'], 120)}" if e["signature"] else ""
    weight = float(k["est_bytes_out"] if basis == "bytes" else k["commands"]) or 0.0
    if total and e["writes"] / total >= WRITE_HOT:
        replicas = ctx.replicas.get(k["shard"])
        stream = e["write_request_bytes"] or 0
        times = f"× {replicas} replica(s)" if replicas else "× each replica"
        out = stream * replicas if replicas else None
        keep = min(1.0, COALESCED_WRITES_PER_S * duration / e["writes"])
        saves = int(out * (1 - keep)) if out else None
        text = (
            f"**Write-hot key** {key} ({share} of shard {shard}'s load): {humanize.count(e['writes'])} "
            f"writes ({humanize.rate(e['writes'] / duration)}/s) from {who}{sig}. Each write goes to "
            f"the replicas too: {humanize.size(stream)} {times}"
            + (f" = {humanize.size(out)} of replication output" if out else "")
            + ". Coalesce the writes in the application (e.g. `INCRBY` every 100 ms instead of "
            f"`INCR` per event), or split the key into `{k['key_name']}:{{0..N-1}}` so the "
            "writes spread over shards"
            + (
                f": at {COALESCED_WRITES_PER_S} writes/s that saves about {humanize.size(saves)}."
                if saves
                else "."
            )
        )
        return Fix("write-hot", text, saves, weight, k["key_name"], "key_name")
    reads = e["reads"]
    if not reads:
        return None
    read_bytes = e["read_bytes"]
    avg = read_bytes / reads if read_bytes is not None else None
    amount = f", {humanize.size(read_bytes)} out" if read_bytes is not None else ""
    if avg is not None and avg >= BIG_VALUE:
        text = (
            f"**Big value read whole**: {key} ({share} of shard {shard}'s load) was read "
            f"{humanize.count(reads)} times at about {humanize.size(avg)} each{amount}, by {who}{sig}. "
            "If readers need part of it, split it (a hash read with `HMGET`, or `GETRANGE`); "
            "otherwise compress it, or cache it on the client."
        )
        return Fix("big-value", text, None, weight, k["key_name"], "key_name")
    if reads < READ_HOT_MIN:
        return None
    fetches = min(reads, e["connections"] * (e["writes"] + 1))
    saves = int(read_bytes * (1 - fetches / reads)) if read_bytes else None
    text = (
        f"**Read-hot key** {key} ({share} of shard {shard}'s load): {humanize.count(reads)} reads "
        f"({humanize.rate(reads / duration)}/s) of a small value"
        + (f" (~{humanize.size(avg)})" if avg is not None else "")
        + f"{amount}, by {who}{sig}, with {humanize.count(e['writes'])} write(s). Cache it on the "
        "client: RESP3 client-side caching (`CLIENT TRACKING on`, redis-py `cache_config`) "
        "refetches it only after a change; or a local cache with a short TTL; or read it from "
        "replicas (`READONLY`) if the application does not already."
        + (
            f" Tracking would cut it to about {humanize.count(fetches)} fetches: "
            f"saves about {humanize.size(saves)}."
            if saves
            else ""
        )
    )
    return Fix("read-hot", text, saves, weight, k["key_name"], "key_name")


def tag_spread(
    tag: str, ranges: dict[str, list[tuple[int, int]]], n: int = TAG_SPREAD
) -> tuple[list[int], dict[str, int]]:
    """The slots of `{tag:0}`..`{tag:n-1}`, and how many land on each shard."""
    slots = [hash_slot(f"{{{tag}:{i}}}".encode()) for i in range(n)]
    shards: dict[str, int] = {}
    for slot in slots:
        owner = next(
            (s for s, rs in sorted(ranges.items()) if any(a <= slot <= b for a, b in rs)), None
        )
        if owner is not None:
            shards[owner] = shards.get(owner, 0) + 1
    return slots, shards


def for_tag(slot: dict, tag: str, ctx: Context, basis: str) -> Fix:
    slots, shards = tag_spread(tag, ctx.ranges)
    where = (
        ", ".join(f"{humanize.printable(s)}: {n}" for s, n in sorted(shards.items()))
        if shards
        else "shards unknown (no capture topology)"
    )
    text = (
        f"**Hash-tag concentration**: slot {slot['slot']} carries "
        f"{humanize.percent(slot['share_of_shard'])} of shard {humanize.printable(slot['shard'])}'s "
        f"load over {humanize.count(slot['distinct_keys'])} keys sharing the tag `{{{humanize.printable(tag)}}}`. "
        "One tag is one slot, so no resharding spreads them: add a suffix to the tag, "
        f"`{{{humanize.printable(tag)}:0}}`..`{{{humanize.printable(tag)}:{TAG_SPREAD - 1}}}` (e.g. a hash of the "
        f"rest of the key mod {TAG_SPREAD}), keeping the keys a multi-key command needs under "
        f"one suffix. Those {TAG_SPREAD} tags land on {len(set(slots))} slots "
        f"({', '.join(str(s) for s in slots)}) — per shard: {where}."
    )
    weight = float(slot["est_bytes_out"] if basis == "bytes" else slot["commands"]) or 0.0
    return Fix("hash-tag", text, None, weight, f"{{{tag}}}", "hash_tag")


def for_scripts(signatures: pl.DataFrame, basis: str, ctx: Context) -> list[Fix]:
    """Scripts and multi-key reads above SCRIPT_SHARE of the bytes out. A script's reply is
    often unsized: then what its `redis.call`s read (`ctx.script_bytes`) stands for it."""
    if basis != "bytes" or signatures.is_empty():
        return []
    mine = signatures.filter(pl.col("command").is_in(SCRIPTS))
    sized = mine.filter(pl.col("share") >= SCRIPT_SHARE).head(2)
    out = []
    for s in sized.iter_rows(named=True):
        what = "multi-key read" if s["command"] == "mget" else "script"
        text = (
            f"**A {what} pulls a large total**: {humanize.code(s['signature'], 120)} returned "
            f"{humanize.size(s['est_bytes_out'])} over {humanize.count(s['commands'])} calls "
            f"(~{humanize.size(s['avg_reply_bytes'])} each, {humanize.percent(s['share'])} of all bytes out). "
            + (
                "Fetch fewer keys per call, or only the ones that changed."
                if what == "multi-key read"
                else _RETURN_LESS
            )
        )
        out.append(
            Fix("script", text, None, float(s["est_bytes_out"] or 0), s["signature"], "signature")
        )
    client = int(signatures["est_bytes_out"].fill_null(0).sum() or 0)
    unsized = mine.filter(pl.col("est_bytes_out").is_null() & (pl.col("command") != "mget"))
    pulled = ctx.script_bytes
    if not out and not unsized.is_empty() and pulled >= SCRIPT_SHARE * (client + pulled):
        s = unsized.sort(["commands", "signature"], descending=[True, False]).row(0, named=True)
        text = (
            f"**A script pulls a large total**: scripts ({humanize.code(s['signature'], 120)} "
            f"{humanize.count(s['commands'])} times, and others) read {humanize.size(pulled)} "
            "through `redis.call`; a script returning what it read sends that much again. "
            + _RETURN_LESS
        )
        out.append(Fix("script", text, None, float(pulled), s["signature"], "signature"))
    return out


_RETURN_LESS = (
    "Have the script return only what the caller uses (a count, a page, the changed fields) "
    "instead of the values it read."
)


def script_bytes(t: Tables) -> int:
    """Reply bytes of the `redis.call`s scripts made (origin `script`)."""
    rows = t.rows.filter(pl.col("origin") == schema.ORIGIN_SCRIPT)
    return int(rows.select(pl.col("reply_bytes").sum()).collect().item() or 0)


def context(
    evidence_rows: pl.DataFrame | None, manifests: Sequence[object] = (), scripts: int = 0
) -> Context:
    """Replicas and slot ranges per shard from the captures' manifests."""
    replicas: dict[str, int] = {}
    ranges: dict[str, list[tuple[int, int]]] = {}
    for m in manifests:
        for n in getattr(m, "nodes", []):
            if n.role == "replica":
                replicas[n.shard] = replicas.get(n.shard, 0) + 1
            elif n.role == "primary" and n.slots:
                ranges[n.shard] = [(int(a), int(b)) for a, b in n.slots]
    return Context(evidence_rows, replicas, ranges, scripts)
