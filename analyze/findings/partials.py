"""The sums the rollups are made of, added up chunk by chunk as the rows are made (no second
read of the dataset): per node and origin, per key and signature (and each key's shares of
multi-key replies), per signature, per client, per shard and second, per node and second.

Each chunk is aggregated over integer ids and low-cardinality columns; the chunks' results are
folded into one (sums of sums, min of mins) every few chunks, so memory is bounded by the
distinct groups, not the rows. The partials that grow with the distinct keys and clients are
kept in buckets by their group (`SPREAD`) and folded a bucket at a time: a fold then holds the
folded groups, the chunks' results and one bucket's new groups, never a second copy of all
(on the high-cardinality mix the fold of the per-key sums was the parse's highest moment).
"""

from __future__ import annotations

import math

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.store.dataset import roles

SIZED = schema.SIZED  # reply confidences that rest on sampled key sizes
CLIENT = pl.col("origin") == schema.ORIGIN_CLIENT
_BYTES = pl.col("reply_bytes")
# The sums every group carries.
SUMMED = ("commands", "est_bytes_out", "bytes_known", "request_bytes")


# Aggregations are kept to polars' fast paths (len/sum/count/min/max over plain columns, no
# filter inside `agg`): the big group_bys run once over client rows, the rest re-aggregate
# their (much smaller) results.
def sums() -> list[pl.Expr]:
    return [
        pl.len().cast(pl.Int64).alias("commands"),
        _BYTES.sum().alias("est_bytes_out"),
        _BYTES.count().cast(pl.Int64).alias("bytes_known"),
        pl.col("request_bytes").sum().alias("request_bytes"),
    ]


def resum() -> list[pl.Expr]:
    return [pl.col(c).sum() for c in SUMMED]


class Partials:
    """The group_bys of the rollups, added up chunk by chunk as the rows are made (no second
    read of the dataset): each `add` aggregates one chunk over integer ids and low-cardinality
    columns; `frames` re-aggregates the chunks' results (sums of sums, min of mins)."""

    # How many chunk results to keep before folding them into one (bounded memory however many
    # chunks; only distinct keys x commands stay). 4 rather than 8: a bucketed fold costs little
    # more for the folded groups, and the results waiting are half (highcard parse peak ~25 MiB
    # lower, same CPU).
    FOLD = 4
    # Buckets of the partials that grow with distinct keys or clients (`SPREAD`).
    BUCKETS = 8

    def __init__(self) -> None:
        # Per partial, its frames: the folded groups first (`folded` of them: one per bucket,
        # one, or none yet), then the chunks' results not folded. Together, every chunk's sums.
        self.parts: dict[str, list[pl.DataFrame]] = {name: [] for name in _GROUPS}
        self.folded: dict[str, int] = dict.fromkeys(_GROUPS, 0)

    def add(self, rows: pl.DataFrame) -> None:
        client = rows.lazy().filter(CLIENT)
        plans = {
            "origins": rows.lazy()
            .group_by("node", "shard", "origin")
            .agg(
                *sums(),
                sized=pl.col("reply_confidence").is_in(SIZED).sum().cast(pl.Int64),
                first_ts=pl.col("ts").min(),
                last_ts=pl.col("ts").max(),
            ),
            # Per key and signature (which fixes the command and the arg shape): the hot keys,
            # whole-collection reads and per-command sums all come from it. A row that names
            # several keys is charged to each of them (analyze/estimate/attribution.py): "shares".
            "keys": client.filter(
                pl.col("key_id").is_not_null() & pl.col("keys_reply_bytes").is_null()
            )
            .group_by("shard", "key_id", "signature_id")
            .agg(*sums(), max_reply_bytes=_BYTES.max()),
            "shares": client.filter(pl.col("keys_reply_bytes").is_not_null())
            .select(
                "shard",
                "signature_id",
                key_name="keys",
                reply_bytes="keys_reply_bytes",
                # the request is the first key's, as for one-key commands
                request_bytes=pl.concat_list(
                    "request_bytes",
                    pl.lit(0, pl.Int64).repeat_by(pl.col("keys").list.len() - 1),
                ),
            )
            .explode("key_name", "reply_bytes", "request_bytes")
            .group_by("shard", "key_name", "signature_id")
            .agg(*sums(), max_reply_bytes=_BYTES.max()),
            "signatures": client.filter(pl.col("signature_id").is_not_null())
            .group_by("signature_id", "shard")
            .agg(*sums()),
            "clients": client.group_by("client", "command").agg(*sums()),
            "series": client.group_by("shard", second=pl.col("ts").floor().cast(pl.Int64)).agg(
                *sums()
            ),
            # Per node and second: bytes out through time beside INFO polls (analyze/findings/timeline.py).
            "node_series": client.group_by(
                "node", "shard", second=pl.col("ts").floor().cast(pl.Int64)
            ).agg(*sums()),
        }
        for name, frame in zip(plans, pl.collect_all(list(plans.values())), strict=True):
            self.parts[name].append(frame)
            if len(self.parts[name]) - self.folded[name] >= self.FOLD:
                self._fold(name)

    def _fold(self, name: str) -> None:
        """The chunks' results of `name` added into its folded groups, a bucket at a time."""
        parts, folded = self.parts[name], self.folded[name]
        if len(parts) == folded:
            return
        keys, extra = _GROUPS[name]
        spread = SPREAD.get(name)
        buckets = self.BUCKETS if spread is not None else 1
        if folded != buckets:  # none yet, or made one by `frame`: bucketed anew
            parts[:0] = [pl.DataFrame(schema=parts[0].schema)] * buckets
            folded = buckets
        new = parts[folded:]
        for b in range(buckets):
            pieces = [p.lazy() for p in new]
            if spread is not None:
                pieces = [p.filter((spread % buckets).fill_null(0) == b) for p in pieces]
            # Lazily: polars' streaming group_by ran ~2.5x less CPU than the eager one here
            # (1.3M keys x signatures). The bucket is replaced at once: its old groups go.
            parts[b] = (
                pl.concat([parts[b].lazy(), *pieces]).group_by(keys).agg(*resum(), *extra).collect()
            )
        del new, parts[folded:]
        self.folded[name] = folded

    def frame(self, name: str, schema_: dict[str, pl.DataType]) -> pl.DataFrame:
        """The sums of `name` over every chunk so far, one row per group (in no order)."""
        self._fold(name)
        parts = self.parts[name]
        if not parts:
            return pl.DataFrame(schema=schema_)
        if len(parts) > 1:  # one frame for the findings, the buckets freed as it is made
            parts[:] = [pl.concat(parts, rechunk=True)]
            self.folded[name] = 1
        return parts[0]

    def pieces(self, name: str, schema_: dict[str, pl.DataType]) -> pl.DataFrame:
        """The sums of `name` as the chunks and folds left them (a group perhaps on several
        rows), not folded and not copied: for a reader that groups them again anyway."""
        return pl.concat([pl.DataFrame(schema=schema_), *self.parts[name]], rechunk=False)

    def node_seconds(self) -> pl.DataFrame:
        """Client commands per node and second (for `analyze.extent`)."""
        return self.frame(
            "node_series",
            {"node": pl.String(), "shard": pl.String(), "second": pl.Int64(), **SUM_SCHEMA},
        )

    def clip_seconds(self, start: float, end: float) -> None:
        """Leave the seconds outside [start, end) out of the time series (garbled timestamps:
        `analyze.extent`); the commands still count everywhere else."""
        inside = (pl.col("second") >= math.floor(start)) & (pl.col("second") < end)
        for name in ("series", "node_series"):
            self.parts[name] = [part.filter(inside) for part in self.parts[name]]

    def origins(self, sources: pl.DataFrame | None = None) -> pl.DataFrame:
        node_roles = (
            roles(sources)
            if sources is not None
            else pl.DataFrame(schema={"node": pl.String, "role": pl.String})
        )
        empty = {
            "node": pl.String(),
            "shard": pl.String(),
            "origin": pl.String(),
            **SUM_SCHEMA,
            "sized": pl.Int64(),
            "first_ts": pl.Float64(),
            "last_ts": pl.Float64(),
        }
        return (
            self.frame("origins", empty)
            .join(node_roles, on="node", how="left")
            .with_columns(pl.col("role").fill_null("unknown"))
            .select(
                "node", "shard", "role", "origin", pl.exclude("node", "shard", "role", "origin")
            )
            .sort("node", "shard", "role", "origin")
        )


SUM_SCHEMA: dict[str, pl.DataType] = {
    "commands": pl.Int64(),
    "est_bytes_out": pl.Int64(),
    "bytes_known": pl.Int64(),
    "request_bytes": pl.Int64(),
}
# The partials kept in buckets (`Partials.BUCKETS`), by a column of their group that spreads
# them: the ones that grow with the distinct keys and client addresses.
SPREAD: dict[str, pl.Expr] = {
    "keys": pl.col("key_id"),
    "shares": pl.col("key_name").hash(),
    "clients": pl.col("client").hash(),
}
# Per partial: its group keys, and how its extra columns fold.
_GROUPS: dict[str, tuple[list[str], list[pl.Expr]]] = {
    "origins": (
        ["node", "shard", "origin"],
        [pl.col("sized").sum(), pl.col("first_ts").min(), pl.col("last_ts").max()],
    ),
    "keys": (["shard", "key_id", "signature_id"], [pl.col("max_reply_bytes").max()]),
    "shares": (["shard", "key_name", "signature_id"], [pl.col("max_reply_bytes").max()]),
    "signatures": (["signature_id", "shard"], []),
    "clients": (["client", "command"], []),
    "series": (["shard", "second"], []),
    "node_series": (["node", "shard", "second"], []),
}
