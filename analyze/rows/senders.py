"""Who sent each line: a client, a script's `redis.call` or the primary replicating a write
(`origin`), and in which protocol its client speaks (`protocols`: CLIENT LIST and HELLO lines),
which frames its null replies (`resp3_nulls`)."""

from __future__ import annotations

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.read import parse
from hotshard.capture.format import resp

# Replies that are one bulk string or null: 5 bytes is the RESP2 null (an empty string is 6).
_SINGLE = ("get", "getdel", "getex", "getset", "hget", "lindex", "lpop", "rpop", "zscore")


def resp3_nulls(rows: pl.DataFrame) -> pl.DataFrame:
    """Null replies to RESP3 clients as RESP3 frames them (`_\r\n`), whichever step sized
    them (the writes before a read size a deleted key's GET as RESP2's null); drops `_resp3`."""
    null = (
        pl.col("_resp3").fill_null(False)
        & pl.col("command").is_in(_SINGLE)
        & (pl.col("reply_bytes") == resp.NULL)
    )
    return rows.with_columns(
        reply_bytes=pl.when(null).then(pl.lit(resp.RESP3_NULL, pl.Int64)).otherwise("reply_bytes")
    ).drop("_resp3")


def protocols(per_row: pl.DataFrame, spoken: dict[str, int], default: int) -> pl.DataFrame:
    """`per_row` (one chunk, file order) with `_resp3`: whether each command's client speaks
    RESP3 — by the last `HELLO <n>` it sent, else `spoken` (what CLIENT LIST and earlier chunks
    said), else `default`. `spoken` is updated with this chunk's HELLOs."""
    if not spoken and per_row.select(pl.col("_hello").is_null().all()).item():
        # Nobody said HELLO or spoke RESP3 so far (the common case): no per-client window.
        return per_row.drop("_hello").with_columns(_resp3=pl.lit(default == 3))
    known = pl.DataFrame(
        {"client": list(spoken), "_was": list(spoken.values())},
        schema={"client": pl.String, "_was": pl.Int32},
    )
    out = (
        per_row.with_columns(_said=pl.col("_hello").forward_fill().over("client"))
        .join(known, on="client", how="left", maintain_order="left")
        .with_columns(
            _resp3=pl.coalesce("_said", "_was", pl.lit(default, pl.Int32)) == 3,
        )
    )
    said = (
        out.filter(pl.col("_hello").is_not_null()).group_by("client").agg(pl.col("_hello").last())
    )
    spoken.update(dict(said.iter_rows()))
    return out.drop("_said", "_was", "_hello")


def origin(source: parse.Source) -> pl.Expr:
    """Where a line came from (`schema.ORIGIN_*`): a script's `redis.call` (`lua`), a write
    replicated from the primary (seen on a replica, from the primary's address), or a client."""
    client = pl.col("client")
    replicated = (
        client.is_in(list(source.primary_addresses))
        if source.primary_addresses and source.role != "primary"
        else pl.lit(False)
    )
    return (
        pl.when(client == "lua")
        .then(pl.lit(schema.ORIGIN_SCRIPT))
        .when(replicated)
        .then(pl.lit(schema.ORIGIN_REPLICATED))
        .otherwise(pl.lit(schema.ORIGIN_CLIENT))
    )
