"""Where a collection's cardinality stands at each read: its timeline of known points (samples,
DEL, expiry, capped LTRIM) and writes (`timeline`), and each read placed on it with the
confidence of what placed it (`place`). The rules are cardinality.py's docstring; it hands the
placed cardinalities back to `Collections`.
"""

from __future__ import annotations

import math

import polars as pl


def timeline(brackets: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per key, every point where its cardinality is known or changes, in time order, with the
    anchor at or before it (`_a*`), the next one after it (`_b*`) and the cumulative weights and
    changes (`_cw`, `_cd`). Before a key's first point a sentinel at -inf."""
    anchor = {"_w": 0.0, "_d": 0.0}
    samples = pl.concat(
        [
            brackets.select("key_name", ts="_t0", _card="_c0", _kind=pl.lit(1), _in=pl.lit(True)),
            brackets.select("key_name", ts="_t1", _card="_c1", _kind=pl.lit(1), _in=pl.lit(False)),
        ]
    ).with_columns(**{k: pl.lit(v) for k, v in anchor.items()})
    # The start sample's PTTL empties the key then, unless a write came between.
    first_write = events.group_by("key_name").agg(_fw=pl.col("ts").min())
    expiries = (
        brackets.join(first_write, on="key_name", how="left")
        .filter(
            pl.col("_expires").is_not_null()
            & (pl.col("_expires") < pl.col("_t1"))
            & (pl.col("_fw").is_null() | (pl.col("_fw") > pl.col("_expires")))
        )
        .select(
            "key_name", ts="_expires", _card=pl.lit(0, pl.Int64), _kind=pl.lit(2), _in=pl.lit(False)
        )
        .with_columns(**{k: pl.lit(v) for k, v in anchor.items()})
    )
    # kinds: -1 the sentinel, 0 a write, 1 a sample, 2 emptied (DEL, expiry), 3 trimmed to a length
    set_to = pl.col("_after")
    writes = events.select(
        "key_name",
        "ts",
        _card=set_to,
        _kind=pl.when(set_to.is_null()).then(0).when(set_to == 0).then(2).otherwise(3),
        _in=pl.lit(False),
        _w="_w",
        _d="_d",
    )
    sentinel = brackets.select(
        "key_name",
        ts=pl.lit(-math.inf),
        _card=pl.lit(None, pl.Int64),
        _kind=pl.lit(-1),
        _in=pl.lit(False),
        _w=pl.lit(0.0),
        _d=pl.lit(0.0),
    )
    # At one timestamp: the sentinel, writes (a write at the sample's microsecond is in it), then
    # anchors; each kind keeps its own order (`_at`).
    parts = [sentinel, writes, samples, expiries]
    points = (
        pl.concat([p.cast({"_kind": pl.Int32}) for p in parts], how="vertical_relaxed")
        .with_row_index("_at")
        .sort("key_name", "ts", "_kind", "_at")
        .drop("_at")
    )
    is_anchor = pl.col("_kind") >= 1
    over = "key_name"
    return (
        points.with_columns(
            _cw=pl.col("_w").cum_sum().over(over),
            _cd=pl.col("_d").cum_sum().over(over),
        )
        .with_columns(
            _ac=pl.when(is_anchor).then("_card").forward_fill().over(over),
            _ak=pl.when(is_anchor).then("_kind").forward_fill().over(over),
            _ai=pl.when(is_anchor).then("_in").forward_fill().over(over),
            _bi=pl.when(is_anchor).then("_in").shift(-1).backward_fill().over(over),
            _aw=pl.when(is_anchor).then("_cw").forward_fill().over(over),
            _ad=pl.when(is_anchor).then("_cd").forward_fill().over(over),
            _bc=pl.when(is_anchor).then("_card").shift(-1).backward_fill().over(over),
            _bk=pl.when(is_anchor).then("_kind").shift(-1).backward_fill().over(over),
            _bw=pl.when(is_anchor).then("_cw").shift(-1).backward_fill().over(over),
            _bd=pl.when(is_anchor).then("_cd").shift(-1).backward_fill().over(over),
        )
        .with_columns(
            # before the first anchor: the change per weight of the segment after it, when that
            # segment ends at a sample (score updates of a leaderboard weigh much, change little)
            _s1=pl.when((pl.col("_bk") == 1) & (pl.col("_bw") > pl.col("_cw")))
            .then((pl.col("_bc") - pl.col("_card")) / (pl.col("_bw") - pl.col("_cw")))
            .filter(is_anchor)
            .first()
            .over(over)
        )
        .select(
            "key_name",
            "ts",
            "_cw",
            "_cd",
            "_ac",
            "_ak",
            "_aw",
            "_ad",
            "_bc",
            "_bk",
            "_bw",
            "_bd",
            "_s1",
            "_ai",
            "_bi",
        )
    )


def place(reads: pl.DataFrame, points: pl.DataFrame) -> pl.DataFrame:
    """`reads` (`key_name`, `ts`, sorted by ts; `_sib`, the unchanged siblings' cardinality,
    optional) with their cardinality `_c` (Int64, null: not placed) and its confidence
    `_conf`."""
    joined = reads.join_asof(
        points, on="ts", by="key_name", strategy="backward", check_sortedness=False
    )
    if "_sib" not in joined.columns:  # no siblings' knowledge given
        joined = joined.with_columns(_sib=pl.lit(None, pl.Float64))
    ac, bc = pl.col("_ac").cast(pl.Float64), pl.col("_bc").cast(pl.Float64)
    since_a = pl.col("_cw") - pl.col("_aw")  # weight of the writes since the anchor before
    span = pl.col("_bw") - pl.col("_aw")
    to_b = pl.col("_bw") - pl.col("_cw")  # weight of the writes until the anchor after
    signed_since_a = ac + pl.col("_cd") - pl.col("_ad")
    signed_to_b = bc - (pl.col("_bd") - pl.col("_cd"))
    sample_a, reset_a = pl.col("_ak") == 1, pl.col("_ak") == 2
    sample_b = pl.col("_bk") == 1
    # Nothing known before the read, a DEL or LTRIM after it. A trim's length less what the
    # writes between added is a lower bound; before a DEL nothing bounds it (the key may have
    # been any size): the siblings or nothing.
    trimmed_b = pl.col("_bk") == 3
    bound = pl.when(trimmed_b).then(pl.max_horizontal(signed_to_b, pl.lit(0.0))).otherwise(0.0)
    sibling = pl.col("_sib").is_not_null() & (pl.col("_sib") > bound)
    before_reset = pl.col("_ak").is_null() & (trimmed_b | ((pl.col("_bk") == 2) & sibling))
    card = (
        pl.when(reset_a & (since_a == 0))
        .then(0.0)
        .when(pl.col("_ak").is_not_null() & (since_a == 0))
        .then(ac)
        .when(sample_b & (to_b == 0))
        .then(bc)
        # up to a sample: by the weight of the writes since the anchor before
        .when(pl.col("_ak").is_not_null() & sample_b & (span > 0))
        .then(ac + (bc - ac) * since_a / span)
        # up to a DEL or LTRIM: by the elements the writes name
        .when(pl.col("_ak").is_not_null())
        .then(signed_since_a)
        # before the first sample: at the pace of the writes after it, else as they name
        .when(sample_b & pl.col("_s1").is_not_null())
        .then(bc - pl.col("_s1") * to_b)
        .when(sample_b)
        .then(signed_to_b)
        .when(before_reset)
        .then(pl.max_horizontal(bound, pl.col("_sib").fill_null(0.0)))
    )
    # the sample that sized it: taken inside the window (`sampled-during`) or after it
    during = pl.when(pl.col("_ai")).then(pl.lit("sampled-during")).otherwise(pl.lit("sampled"))
    during_b = pl.when(pl.col("_bi")).then(pl.lit("sampled-during")).otherwise(pl.lit("sampled"))
    conf = (
        pl.when(reset_a & (since_a == 0))
        .then(pl.lit("exact"))
        .when(sample_a & (since_a == 0))
        .then(during)
        .when(sample_b & (to_b == 0))
        .then(during_b)
        .when(pl.col("_ak").is_not_null() & sample_b & (span > 0))
        .then(pl.lit("interpolated"))
        .when(before_reset & sibling)
        .then(pl.lit("pattern"))
        .when(before_reset)
        .then(pl.lit("bounded"))
        # from one anchor through the writes named since (or until) it
        .otherwise(pl.lit("replayed"))
    )
    return joined.with_columns(
        # (max_horizontal skips nulls: an unplaced read stays null)
        _c=pl.when(card.is_not_null()).then(
            pl.max_horizontal(card, pl.lit(0.0)).round(0).cast(pl.Int64)
        ),
        _conf=pl.when(card.is_not_null()).then(conf),
    )
