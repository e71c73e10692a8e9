"""The field set of a small hash at each HGET/HMGET: the after-window sample's set, replayed back
through the hash writes MONITOR showed.

The after-window sample of a small hash lists every field (`KeySize.fields`), but a field HDELed
after a read was there for it (issue 24). `events_of` turns a chunk's write lines of those hashes into events — a field set (HSET,
HMSET, HSETNX, HINCRBY, HINCRBYFLOAT) or removed (HDEL, HGETDEL), or the whole key reset (DEL, UNLINK,
RENAME/RENAMENX/MOVE of it or onto it, RESTORE, COPY onto it, EXPIRE to the past, FLUSHALL,
FLUSHDB) — keeping the key, field and time only, never a value. `presence` judges each asked
field at its read's time (`replay`):

    a write of the field before the read (after any reset): its effect (set: there, HDEL: not);
    else a reset before the read: not there (the key was emptied);
    else the field's first write after the read, before any reset, if an HDEL: it was there
    (an HSET after the read says nothing: it may have created the field or rewritten it in
    place, as counters and refreshed values are);
    else a reset after the read: unknown (the after-window set says nothing about it);
    else the after-window set.

A whole field set the in-window sampler saw (`seen_sets`, at its time) counts as a reset to that
set: nearer knowledge than the after-window set, on either side of it.

A field there is sized by its after-window value, else (HDELed since) by its value in the
in-window sample, else by the mean value of the hash's after-window fields; an unknown one is assumed there at that mean, as a hash whose fields were
not all seen is (analyze/estimate/replies.py). Rows whose answer rests on a write get confidence
`replayed`. Field names stay in memory: no output holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate.replication import FLUSHES, naming
from hotshard.analyze.estimate.resp_exprs import length_digits
from hotshard.analyze.keys import quoted
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize

_SETS = ("hset", "hmset", "hsetnx", "hincrby", "hincrbyfloat")
_REMOVES = ("hdel", "hgetdel")
_PAIRS = ("hset", "hmset")  # key field value field value ...
_RESETS = ("del", "unlink", "rename", "renamenx", "move", "restore", "copy")
_EXPIRES = ("expire", "pexpire", "expireat", "pexpireat")
READS = ("hget", "hmget")
ASKED = "_hasked"  # per HGET/HMGET row, the fields asked (as quoted), joined by SEP
SEP = "\x01"

EVENTS: dict[str, pl.DataType] = {
    "key_name": pl.String(),
    "field": pl.String(),  # as MONITOR quotes it; null: the whole key reset
    "ts": pl.Float64(),
    "_set": pl.Boolean(),  # set (True) or removed (False); null for a reset
}
# The field sets the in-window sampler saw whole: one row per (hash, field), the sample's time.
SEEN: dict[str, pl.DataType] = {"key_name": pl.String(), "field": pl.String(), "ts": pl.Float64()}
# The after-window field sets: one row per (hash, field), its value's length.
AFTER: dict[str, pl.DataType] = {
    "key_name": pl.String(),
    "field": pl.String(),
    "value_len": pl.Int64(),
}


def needles(keys: Sequence[str]) -> list[str]:
    """What a line that `events_of` splits holds (any case): a key quoted, or a flush (none
    without keys)."""
    return naming(keys) if keys else []


def events_of(heads: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The hash-field events (`EVENTS`) of `keys` (db 0) in `heads` (`parse.header_rows`: ts,
    db, body as quoted), in line order. Only lines naming one of them, or a flush, are split."""
    if not keys:
        return pl.DataFrame(schema=EVENTS)
    body = pl.col("body")
    hits = heads.filter(
        (pl.col("db") == 0) & body.str.contains_any(needles(keys), ascii_case_insensitive=True)
    )
    if not hits.height:
        return pl.DataFrame(schema=EVENTS)
    args = quoted.arguments(body)
    lines = hits.select(
        "ts", command=args.list.first().str.to_lowercase(), _args=args.list.slice(1)
    ).with_row_index("_line")
    cmd, argv = pl.col("command"), pl.col("_args")
    fields = (
        pl.when(cmd.is_in(_PAIRS))
        .then(argv.list.slice(1).list.gather_every(2))
        .when(cmd == "hdel")
        .then(argv.list.slice(1))
        .when(cmd == "hgetdel")  # key FIELDS n field...
        .then(argv.list.slice(3))
        .otherwise(argv.list.slice(1, 1))
    )
    written = (
        lines.filter(cmd.is_in([*_SETS, *_REMOVES]))
        .select("_line", "ts", key_name=argv.list.first(), field=fields, _set=cmd.is_in(_SETS))
        .explode("field")
    )
    when = argv.list.get(1, null_on_oob=True).cast(pl.Float64, strict=False)
    past = (
        pl.when(cmd.is_in(["expire", "pexpire"]))
        .then(when <= 0)
        .when(cmd == "expireat")
        .then(when <= pl.col("ts"))
        .otherwise(when <= pl.col("ts") * 1000)
    )
    named = (
        pl.when(cmd.is_in(["del", "unlink"]))
        .then(argv)
        .when(cmd.is_in(["rename", "renamenx"]))
        .then(argv.list.head(2))
        .when(cmd == "copy")
        .then(argv.list.slice(1, 1))
        .otherwise(argv.list.head(1))  # MOVE, RESTORE, EXPIRE...
    )
    resets = (
        lines.filter(cmd.is_in(_RESETS) | (cmd.is_in(_EXPIRES) & past.fill_null(False)))
        .select("_line", "ts", key_name=named)
        .explode("key_name")
    )
    every = pl.Series(list(keys), dtype=pl.String).to_frame("key_name")
    flushes = lines.filter(cmd.is_in(FLUSHES)).select("_line", "ts").join(every, how="cross")
    cols = ["_line", "ts", "key_name"]
    out = pl.concat(
        [
            written.select(*cols, "field", "_set"),
            resets.select(cols).with_columns(field=pl.lit(None, pl.String), _set=None),
            flushes.select(cols).with_columns(field=pl.lit(None, pl.String), _set=None),
        ],
        how="diagonal_relaxed",
    )
    return (
        out.with_columns(key_name=quoted.decode(pl.col("key_name")).text)
        .filter(pl.col("key_name").is_in(list(keys)))
        .sort("_line")
        .select(list(EVENTS))
        .cast(EVENTS)  # type: ignore[arg-type]
    )


def after_sets(full: pl.DataFrame) -> pl.DataFrame:
    """`sampled_sizes.field_frame` (key_name, fields) as one row per field (`AFTER`)."""
    if not full.height:
        return pl.DataFrame(schema=AFTER)
    return (
        full.select("key_name", "fields")
        .explode("fields")
        .unnest("fields")
        .filter(pl.col("field").is_not_null())
        .cast(AFTER)  # type: ignore[arg-type]
    )


def earlier_lengths(sizes: Sequence[KeySize]) -> pl.DataFrame:
    """The value lengths of the hash fields the in-window sampler saw (`AFTER`; a field seen on
    several nodes: its first node's), for fields deleted before the after-window sample."""
    rows = sorted(
        (s.key, field, n, s.node)
        for s in sizes
        if s.type == "hash" and s.fields and not s.error
        for field, n in s.fields.items()
    )
    frame = pl.DataFrame([r[:3] for r in rows], schema=AFTER, orient="row")
    return frame.unique(["key_name", "field"], keep="first", maintain_order=True)


def seen_sets(sizes: Sequence[KeySize]) -> pl.DataFrame:
    """The whole field sets the in-window sampler saw, at their time (`SEEN`)."""
    rows = sorted(
        (s.key, field, s.sampled_at)
        for s in sizes
        if s.type == "hash" and s.fields and not s.error and s.sampled_at is not None
        for field in s.fields
    )
    return pl.DataFrame(rows, schema=SEEN, orient="row")


def replay(
    reads: pl.DataFrame,
    events: pl.DataFrame,
    after: pl.DataFrame,
    earlier: pl.DataFrame | None = None,
    anchors: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per asked field (`reads`: `_i`, key_name, field, ts), whether the hash had it at the
    read's time (`_present`, null: unknown), the length of its value (`_vlen`: the after-window
    sample's, else the in-window one's (`earlier`, `AFTER`), else the mean of the hash's
    after-window values) and whether a write decided it (`_replayed`), in the order of
    `reads`. Pure: `events` (`EVENTS`, the hash's writes, in time order) and `after` (`AFTER`)
    are the whole window's. `anchors` (`SEEN`): whole field sets the in-window sampler saw, at
    their time: nearer than the after-window set (a read before the first `HSET` of a field
    that sample saw had it, whatever that `HSET` did)."""
    order = reads.with_row_index("_r").sort("ts", "_r")
    seen_sets = pl.DataFrame(schema=SEEN) if anchors is None else anchors
    writes = pl.concat(
        [
            events.filter(pl.col("field").is_not_null())
            .select("key_name", "field", "ts", "_set")
            .with_columns(_seen=pl.lit(False)),
            seen_sets.select("key_name", "field", "ts", _set=pl.lit(True), _seen=pl.lit(True)),
        ]
    ).sort("ts", maintain_order=True)
    # A sampled set is a reset (every field not in it is gone) and its fields at once.
    resets = pl.concat(
        [
            events.filter(pl.col("field").is_null())
            .select("key_name", "ts")
            .with_columns(_anchor=pl.lit(False)),
            seen_sets.select("key_name", "ts").unique().with_columns(_anchor=pl.lit(True)),
        ]
    ).sort("ts", "key_name")
    by = ["key_name", "field"]
    step = order
    sides: tuple[tuple[Literal["backward", "forward"], str], ...] = (
        ("backward", "_prev"),
        ("forward", "_next"),
    )
    for strategy, suffix in sides:
        exact = strategy == "backward"  # a write at the read's very time: before it
        w = writes.with_columns(**{f"_wts{suffix}": pl.col("ts")}).rename(
            {"_set": f"_set{suffix}", "_seen": f"_seen{suffix}"}
        )
        step = step.join_asof(
            w, on="ts", by=by, strategy=strategy, allow_exact_matches=exact, check_sortedness=False
        )
        r = resets.with_columns(**{f"_rts{suffix}": pl.col("ts")}).rename(
            {"_anchor": f"_anchor{suffix}"}
        )
        step = step.join_asof(
            r,
            on="ts",
            by="key_name",
            strategy=strategy,
            allow_exact_matches=exact,
            check_sortedness=False,
        )
    sampled = after.select(*by, _after_len="value_len")
    mean = after.group_by("key_name").agg(_mean_len=pl.col("value_len").mean().round(0))
    seen = (pl.DataFrame(schema=AFTER) if earlier is None else earlier).select(
        *by, _earlier_len="value_len"
    )
    step = (
        step.join(sampled, on=by, how="left")
        .join(seen, on=by, how="left")
        .join(mean, on="key_name", how="left")
    )
    prev_set, next_set = pl.col("_set_prev"), pl.col("_set_next")
    rprev, rnext = pl.col("_rts_prev"), pl.col("_rts_next")
    before = prev_set.is_not_null() & (rprev.is_null() | (pl.col("_wts_prev") >= rprev))
    # Only an HDEL (or a sampled set) after the read tells what the field was before it: an
    # HSET may have created the field or rewritten it in place (a counter, a refreshed value),
    # so it says nothing, and the read falls through to what follows it.
    after_read = (
        next_set.is_not_null()
        & (rnext.is_null() | (pl.col("_wts_next") <= rnext))
        & (~next_set | pl.col("_seen_next"))
    )
    present = (
        pl.when(before)
        .then(prev_set)
        .when(rprev.is_not_null())
        .then(pl.lit(False))
        .when(after_read)
        .then(pl.lit(True))
        .when(rnext.is_not_null())
        .then(pl.when(pl.col("_anchor_next")).then(pl.lit(False)).otherwise(None))
        .otherwise(pl.col("_after_len").is_not_null())
    )
    replayed = before | rprev.is_not_null() | after_read | rnext.is_not_null()
    return (
        step.select(
            "_r",
            "_i",
            _present=present,
            _vlen=pl.coalesce("_after_len", "_earlier_len", pl.col("_mean_len").cast(pl.Int64)),
            _replayed=replayed,
        )
        .sort("_r")
        .drop("_r")
    )


class Fields:
    """The field sets of one source's small hashes through the window."""

    def __init__(
        self,
        full: pl.DataFrame,
        events: pl.DataFrame,
        earlier: pl.DataFrame | None = None,
        anchors: pl.DataFrame | None = None,
    ) -> None:
        self.after = after_sets(full)
        self.earlier = earlier  # `earlier_lengths` of the in-window sample
        # Only hashes the window wrote can differ from the after-window set.
        self.events = events.join(self.after.select("key_name").unique(), on="key_name", how="semi")
        self.keys = self.events["key_name"].unique()
        # `seen_sets` of the in-window sample, for the hashes the window wrote
        self.anchors = (
            None
            if anchors is None
            else anchors.filter(pl.col("key_name").is_in(self.keys.implode()))
        )

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` (one chunk: with `_resp3` and `ASKED`) with the HGETs/HMGETs of written small
        hashes re-sized at their time; drops `ASKED`."""
        if ASKED not in rows.columns:
            return rows
        mine = (
            pl.col("command").is_in(READS)
            & (pl.col("origin") == schema.ORIGIN_CLIENT)
            & (pl.col("db") == 0)
            & pl.col("key_name").is_in(self.keys.implode())
            & pl.col(ASKED).is_not_null()
            & pl.col("reply_confidence").is_in(["sampled", "pattern"])
        )
        if not self.keys.len() or not rows.select(mine.any()).item():
            return rows.drop(ASKED)
        picked = rows.with_row_index("_i").filter(mine)
        asked = picked.select(
            "_i", "key_name", "ts", "_resp3", field=pl.col(ASKED).str.split(SEP)
        ).explode("field")
        judged = pl.concat(
            [
                asked,
                replay(
                    asked.select("_i", "key_name", "field", "ts"),
                    self.events,
                    self.after,
                    self.earlier,
                    self.anchors,
                ).drop("_i"),
            ],
            how="horizontal",
        )
        null = pl.when(pl.col("_resp3").fill_null(False)).then(resp.RESP3_NULL).otherwise(resp.NULL)
        there = pl.col("_present").fill_null(True)  # unknown: assumed there, as on other hashes
        element = pl.when(there).then(resp.bulk(pl.col("_vlen"), length_digits)).otherwise(null)
        per_row = judged.group_by("_i").agg(
            _n=pl.len(),
            _sum=element.sum(),
            _known=(~there | pl.col("_vlen").is_not_null()).all(),
            _replayed=pl.col("_replayed").any(),
        )
        per_row = (
            per_row.join(picked.select("_i", "command"), on="_i")
            .with_columns(
                _bytes=pl.when(pl.col("command") == "hmget")
                .then(
                    resp.array_header(pl.col("_n").cast(pl.Int64), length_digits) + pl.col("_sum")
                )
                .otherwise(pl.col("_sum"))
            )
            .filter(pl.col("_replayed") & pl.col("_known"))
        )
        out = rows.with_row_index("_i").join(
            per_row.select("_i", "_bytes"), on="_i", how="left", maintain_order="left"
        )
        changed = pl.col("_bytes").is_not_null()
        return out.with_columns(
            reply_bytes=pl.when(changed).then(pl.col("_bytes")).otherwise("reply_bytes"),
            reply_confidence=pl.when(changed)
            .then(pl.lit("replayed"))
            .otherwise("reply_confidence"),
        ).drop("_i", "_bytes", ASKED)
