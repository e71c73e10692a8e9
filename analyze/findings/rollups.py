"""Aggregations over the `commands` table: who and what makes a shard hot.

Everything here reads the analyzer's tables (`hotshard.analyze.store.dataset.Tables`: the rows,
in practice a scan of the Parquet dataset, and the keys and signatures they point at) and
returns small DataFrames: the headline totals, the shard and node totals, and (from
breakdowns.py) the ranked tables, all from the sums of partials.py. Only `origin == "client"`
rows count as client traffic; replicated writes and script sub-commands are counted in their
own columns and never added to client totals. Every ranking ends in a total sort with
tie-breakers, because polars 2 does not keep row order through group_by.

"Bytes" below are estimated reply bytes (`reply_bytes`): sums over the rows whose estimate is
known. Rankings use them when key sizes were sampled or enough client commands have an estimate
(`Totals.basis`); otherwise they rank by command count and the byte columns are null (sums of
the small exact replies alone would look like a measurement and mislead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.findings import breakdowns
from hotshard.analyze.findings.breakdowns import finish, top_by
from hotshard.analyze.findings.partials import SUM_SCHEMA, SUMMED, Partials, resum
from hotshard.analyze.store.dataset import Tables

# How many rows each ranking keeps (the report shows `top` of them; SQLite keeps them all).
TABLE_LIMIT = 1000
# Rank by bytes when key sizes were sampled, or when at least this share of client commands
# has a reply-size estimate.
BYTES_BASIS_MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Totals:
    """Headline counts over the whole (windowed) table."""

    rows: int
    client: int
    replicated: int
    script: int
    client_bytes_known: int  # client commands with a reply-size estimate
    est_bytes_out: int | None  # sum of known client reply bytes; None when none is known
    request_bytes: int
    first_ts: float | None
    last_ts: float | None
    client_sized: int = 0  # client commands estimated from sampled key sizes (own or pattern)
    cluster: int = 0  # the cluster's own lines (MIGRATE, RESTORE-ASKING...: origin `cluster`)

    @property
    def coverage(self) -> float:
        """Share of client commands whose reply size is estimated."""
        return self.client_bytes_known / self.client if self.client else 0.0

    @property
    def basis(self) -> str:
        """What rankings and the verdict rest on: "bytes" or "commands".

        Bytes once key sizes were sampled (sampling targets the keys that matter, so the
        estimates that exist are the big ones), or when most client commands have an estimate
        anyway; commands otherwise (exact replies alone are the small +OK/:1 ones).
        """
        if not self.client:
            return "commands"
        if self.client_sized or self.coverage >= BYTES_BASIS_MIN_COVERAGE:
            return "bytes"
        return "commands"


@dataclass
class Rollups:
    """Every aggregate the report, summary and SQLite summary tables are made of."""

    totals: Totals
    duration: float  # seconds the ops/s figures are divided by
    shards: pl.DataFrame
    nodes: pl.DataFrame
    shard_commands: pl.DataFrame  # per shard x command
    hot_keys: pl.DataFrame
    patterns: pl.DataFrame
    signatures: pl.DataFrame
    clients: pl.DataFrame
    slots: pl.DataFrame
    series: pl.DataFrame  # per shard x second
    large_ops: pl.DataFrame
    extra: dict[str, object] = field(default_factory=dict)
    node_series: pl.DataFrame = field(default_factory=pl.DataFrame)  # per node x second
    shard_patterns: pl.DataFrame = field(default_factory=pl.DataFrame)  # per shard x key pattern

    @property
    def basis(self) -> str:
        return self.totals.basis

    @property
    def rank_column(self) -> str:
        return "est_bytes_out" if self.basis == "bytes" else "commands"


def origins(lf: pl.LazyFrame, sources: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per node and origin: rows, known reply bytes, request bytes, time span (one cheap pass).
    `role` comes from `sources` (node -> role), "unknown" without."""
    part = Partials()
    part.add(lf.collect())
    return part.origins(sources)


def totals(lf: pl.LazyFrame) -> Totals:
    """Headline counts of a `commands` LazyFrame."""
    return _totals(origins(lf))


def _totals(by_origin: pl.DataFrame) -> Totals:
    def total(column: str, origin: str | None = None) -> int:
        df = by_origin if origin is None else by_origin.filter(pl.col("origin") == origin)
        return int(df[column].sum() or 0)

    known = total("bytes_known", schema.ORIGIN_CLIENT)
    return Totals(
        rows=total("commands"),
        client=total("commands", schema.ORIGIN_CLIENT),
        replicated=total("commands", schema.ORIGIN_REPLICATED),
        script=total("commands", schema.ORIGIN_SCRIPT),
        client_bytes_known=known,
        est_bytes_out=total("est_bytes_out", schema.ORIGIN_CLIENT) if known else None,
        request_bytes=total("request_bytes", schema.ORIGIN_CLIENT),
        first_ts=by_origin["first_ts"].min(),  # type: ignore[arg-type]
        last_ts=by_origin["last_ts"].max(),  # type: ignore[arg-type]
        client_sized=total("sized", schema.ORIGIN_CLIENT),
        cluster=total("commands", schema.ORIGIN_CLUSTER),
    )


def _origin_count(origin: str) -> pl.Expr:
    return pl.col("commands").filter(pl.col("origin") == origin).sum().cast(pl.Int64)


def _clientsums() -> list[pl.Expr]:
    """`_resum` over the client rows of an `origins` frame (small: filter in agg is fine)."""
    client = pl.col("origin") == schema.ORIGIN_CLIENT
    return [pl.col(c).filter(client).sum().cast(pl.Int64).alias(c) for c in SUMMED]


def compute(
    t: Tables,
    *,
    partials: Partials | None = None,
    span: tuple[float, float] | None = None,
    duration: float | None = None,
    shards_known: Sequence[str] = (),
    nodes_known: Sequence[tuple[str, str, str]] = (),
    limit: int = TABLE_LIMIT,
) -> Rollups:
    """All rollups of the analysis' tables, from `partials` when the rows were already added up
    as they were made (else from `t.rows`).

    span: (start, end) epoch seconds the capture covered; ops/s divide by its length (at least
      1 s). Default: first to last timestamp in the table.
    duration: the seconds the data covers when that is not the span's length (a node's clock
      stepped back: `parse.LineCounts.segments`).
    shards_known / nodes_known: shards and (node, shard, role) that were monitored, so that a
      silent one still shows up with zero commands.
    """
    if partials is None:  # aggregate the rows now (the analyzer adds them up as it parses)
        partials = Partials()
        partials.add(t.rows.collect())
    by_origin = partials.origins(t.sources)
    tot = _totals(by_origin)
    if span is None:
        span = (tot.first_ts or 0.0, tot.last_ts or 0.0)
    duration = max(span[1] - span[0] if duration is None else duration, 1.0)
    basis = tot.basis
    # Collected once: the per-key table, the hot keys and the whole-collection reads read it.
    ks = breakdowns.key_signatures(t, partials)
    keys_all = breakdowns.keys_all(ks, t)
    plans = breakdowns.plans(t, partials, ks, keys_all, basis, limit)
    # The plans read the partials (small), never the rows: they can all run at once.
    frames = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))

    nodes = by_origin.group_by("node", "shard", "role").agg(
        *_clientsums(),
        replicated=_origin_count(schema.ORIGIN_REPLICATED),
        script=_origin_count(schema.ORIGIN_SCRIPT),
    )
    shards = by_origin.group_by("shard").agg(
        *_clientsums(),
        replicated=_origin_count(schema.ORIGIN_REPLICATED),
        script=_origin_count(schema.ORIGIN_SCRIPT),
        nodes=pl.col("node").n_unique().cast(pl.Int64),
        first_ts=pl.col("first_ts").min(),
        last_ts=pl.col("last_ts").max(),
    )
    series = frames["series"].sort("shard", "second")
    peaks = series.group_by("shard").agg(peak_ops_per_s=pl.col("commands").max())
    shard_cmds = frames["shard_commands"]
    top_cmd = shard_cmds.group_by("shard").agg(top_command=top_by("command", "top_command", basis))
    shards = (
        shards.join(frames["shard_keys"], on="shard", how="left")
        .join(peaks, on="shard", how="left")
        .join(top_cmd, on="shard", how="left")
        .with_columns(pl.col("peak_ops_per_s", "distinct_keys").fill_null(0))
    )
    shards = _with_known_shards(shards, shards_known)
    shards = finish(shards, duration, basis, ["shard"])
    shards = _with_shares(shards, basis)

    nodes = _with_known_nodes(nodes, nodes_known)
    nodes = finish(nodes, duration, basis, ["shard", "node", "role"])

    share_of = shards.select(
        "shard",
        shard_commands=pl.col("commands"),
        shard_bytes=pl.col("est_bytes_out"),
    )

    def shared(df: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
        df = finish(df, duration, basis, keys)
        df = df.join(share_of, on="shard", how="left", maintain_order="left").with_columns(
            share_of_shard=(
                pl.col("est_bytes_out") / pl.col("shard_bytes")
                if basis == "bytes"
                else pl.col("commands") / pl.col("shard_commands")
            )
        )
        return df.drop("shard_commands", "shard_bytes")

    total_rank = (tot.est_bytes_out or 0) if basis == "bytes" else tot.client

    def of_total(df: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
        df = finish(df, duration, basis, keys)
        value = pl.col("est_bytes_out") if basis == "bytes" else pl.col("commands")
        return df.with_columns(share=value / total_rank if total_rank else pl.lit(None, pl.Float64))

    return Rollups(
        totals=tot,
        duration=duration,
        shards=shards,
        nodes=nodes,
        shard_commands=finish(shard_cmds, duration, basis, ["shard", "command"]),
        hot_keys=shared(frames["hot_keys"], ["shard", "key_name"]),
        patterns=of_total(frames["patterns"], ["key_pattern"]),
        signatures=of_total(frames["signatures"], ["signature"]).with_columns(
            avg_reply_bytes=pl.when(pl.col("bytes_known") > 0).then(
                pl.col("est_bytes_out") / pl.col("bytes_known")
            )
        ),
        clients=of_total(frames["clients"], ["client_id", "client_kind"]),
        slots=shared(frames["slots"], ["shard", "slot"]),
        series=series.with_columns(
            est_bytes_out=pl.when((pl.col("bytes_known") > 0) & pl.lit(basis == "bytes")).then(
                pl.col("est_bytes_out")
            )
        ),
        large_ops=shared(frames["large_ops"], ["shard", "key_name", "command", "arg_shape"]),
        node_series=partials.frame(
            "node_series",
            {"node": pl.String(), "shard": pl.String(), "second": pl.Int64(), **SUM_SCHEMA},
        ).sort("node", "shard", "second"),
        shard_patterns=keys_all.group_by("shard", "key_pattern")
        .agg(*resum())
        .with_columns(breakdowns.shard_text())
        .sort("shard", "key_pattern", nulls_last=True),
    )


def _with_known_shards(df: pl.DataFrame, known: Sequence[str]) -> pl.DataFrame:
    missing = sorted(set(known) - set(df["shard"].to_list()))
    if not missing:
        return df
    extra = pl.DataFrame({"shard": missing}, schema={"shard": pl.String}).with_columns(
        pl.lit(None, dtype=df.schema[c]).alias(c)
        if c in ("first_ts", "last_ts")
        else pl.lit(0, dtype=df.schema[c]).alias(c)
        for c in df.columns
        if c != "shard"
    )
    return pl.concat([df, extra.select(df.columns)])


def _with_known_nodes(df: pl.DataFrame, known: Sequence[tuple[str, str, str]]) -> pl.DataFrame:
    have = set(df.select("node", "shard", "role").iter_rows())
    missing = sorted(set(known) - have)
    if not missing:
        return df
    extra = pl.DataFrame(missing, schema=["node", "shard", "role"], orient="row")
    extra = extra.with_columns(
        [pl.lit(0, dtype=df.schema[c]).alias(c) for c in df.columns if c not in extra.columns]
    )
    return pl.concat([df, extra.select(df.columns)])


def _with_shares(shards: pl.DataFrame, basis: str) -> pl.DataFrame:
    value = "est_bytes_out" if basis == "bytes" else "commands"
    total = shards[value].sum() or 0
    return shards.with_columns(share=pl.col(value) / total if total else pl.lit(None, pl.Float64))
