"""Multi-key replies charged to each key they name (issue 24, item 4).

An `MGET a b c` reply is one array of one element per key: each key is charged the bytes of its
own element (its sampled GET size; a key without a sample the average of the row's sampled
ones), scaled so that the shares add up to the row's `reply_bytes` exactly. Other commands with
several keys (DEL, EXISTS, SUNION...) have no per-key elements: their reply is shared evenly.
The row keeps its total; the per-key shares sit beside `keys` in `keys_reply_bytes`, which the
per-key rollups read (analyze/findings/rollups.py), so top keys no longer depend on argument order.
"""

from __future__ import annotations

import polars as pl

from hotshard.analyze.estimate.replies import Lookup

# Commands whose reply holds one element per key, in the keys' order.
PER_ELEMENT = ("mget",)


def per_key(rows: pl.DataFrame, lookup: Lookup) -> pl.DataFrame:
    """`rows` with `keys_reply_bytes` (List[Int64], parallel to `keys`; null where the row has
    one key or no known reply)."""
    multi = pl.col("keys").is_not_null() & pl.col("reply_bytes").is_not_null()
    if not rows.select(multi.any()).item():
        return rows.with_columns(keys_reply_bytes=pl.lit(None, pl.List(pl.Int64)))
    picked = (
        rows.select("keys", "reply_bytes", "command")
        .with_row_index("_row")
        .filter(multi)
        .explode("keys")
    )
    own = pl.col("keys").replace_strict(
        lookup.string_keys, lookup.string_bytes, default=None, return_dtype=pl.Int64
    )
    weight = (
        pl.when(pl.col("command").is_in(PER_ELEMENT))
        .then(pl.coalesce(own.cast(pl.Float64), own.cast(pl.Float64).mean().over("_row"), 1.0))
        .otherwise(1.0)
    )
    share = (
        picked.with_columns(_w=weight)
        .with_columns(_cum=(pl.col("_w").cum_sum() / pl.col("_w").sum()).over("_row"))
        # Rounded on the running total: the shares add up to the row's bytes exactly.
        .with_columns(_upto=(pl.col("_cum") * pl.col("reply_bytes")).round(0).cast(pl.Int64))
        .with_columns(_share=pl.col("_upto") - pl.col("_upto").shift(1, fill_value=0).over("_row"))
        .group_by("_row", maintain_order=True)
        .agg(keys_reply_bytes=pl.col("_share"))
    )
    return (
        rows.with_row_index("_row")
        .join(share, on="_row", how="left", maintain_order="left")
        .drop("_row")
    )
