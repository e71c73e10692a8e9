"""Aggregations over the `commands` table: who and what makes a shard hot.

Everything here reads the analyzer's tables (`hotshard.analyze.store.tables.Tables`: the rows, in practice a scan
of the Parquet dataset, and the keys and signatures they point at) and returns small DataFrames.
The big group_bys run over integer ids (key, signature) and low-cardinality columns; names,
slots and patterns are joined onto their (much smaller) results. Only `origin == "client"` rows count as client
traffic; replicated writes and script sub-commands are counted in their own columns and never
added to client totals. Every ranking ends in a total sort with tie-breakers, because polars 2
does not keep row order through group_by.

"Bytes" below are estimated reply bytes (`reply_bytes`): sums over the rows whose estimate is
known. Rankings use them when key sizes were sampled or enough client commands have an estimate
(`Totals.basis`); otherwise they rank by command count and the byte columns are null (sums of
the small exact replies alone would look like a measurement and mislead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.store.tables import Tables, client_columns, roles
from hotshard.capture.format import reads

# How many rows each ranking keeps (the report shows `top` of them; SQLite keeps them all).
TABLE_LIMIT = 1000
# Rank by bytes when key sizes were sampled, or when at least this share of client commands
# has a reply-size estimate.
BYTES_BASIS_MIN_COVERAGE = 0.5
SIZED = schema.SIZED  # reply confidences that rest on sampled key sizes

CLIENT = pl.col("origin") == schema.ORIGIN_CLIENT
_BYTES = pl.col("reply_bytes")


def full_read() -> pl.Expr:
    """True for a command that reads a whole collection (`LRANGE k 0 -1`, `HGETALL k`, ...), as
    capture/format/reads.py defines it, from `command` and `arg_shape`."""
    shape = pl.col("arg_shape").fill_null("")
    upper = shape.str.to_uppercase()
    cmd = pl.col("command")

    def has(options: Iterable[str]) -> pl.Expr:
        return upper.str.contains(rf"(^| )({'|'.join(sorted(options))})( |$)")

    def starts(ends: tuple[str, ...]) -> pl.Expr:
        text = " ".join(ends)
        return (shape == text) | shape.str.starts_with(text + " ") if ends else pl.lit(True)

    ranged, rev = pl.lit(False), has([reads.REVERSE])
    for command, by, reverse, ends in reads.full_spans():
        told = ~has(reads.BY) if by is None else has([by])
        ranged = ranged | ((cmd == command) & told & (rev if reverse else ~rev) & starts(ends))
    return cmd.is_in(sorted(reads.WHOLE_COLLECTIONS)) | (ranged & ~has(reads.LIMITING))


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


# Aggregations are kept to polars' fast paths (len/sum/count/min/max over plain columns, no
# filter inside `agg`): the big group_bys run once over client rows, the rest re-aggregate
# their (much smaller) results.
def _sums() -> list[pl.Expr]:
    return [
        pl.len().cast(pl.Int64).alias("commands"),
        _BYTES.sum().alias("est_bytes_out"),
        _BYTES.count().cast(pl.Int64).alias("bytes_known"),
        pl.col("request_bytes").sum().alias("request_bytes"),
    ]


def _resum() -> list[pl.Expr]:
    return [pl.col(c).sum() for c in ("commands", "est_bytes_out", "bytes_known", "request_bytes")]


def _origin_count(origin: str) -> pl.Expr:
    return pl.col("commands").filter(pl.col("origin") == origin).sum().cast(pl.Int64)


def _client_sums() -> list[pl.Expr]:
    """`_resum` over the client rows of an `origins` frame (small: filter in agg is fine)."""
    client = pl.col("origin") == schema.ORIGIN_CLIENT
    return [pl.col(c).filter(client).sum().cast(pl.Int64).alias(c) for c in _SUMMED]


_SUMMED = ("commands", "est_bytes_out", "bytes_known", "request_bytes")


def _top_by(value: str, name: str, basis: str) -> pl.Expr:
    """The `value` that weighs most in a group by the report's ranking (`basis`): most bytes
    out, then most commands, then the smallest value — a bytes-ranked report never names the
    most frequent command as "top" when another one carries the bytes."""
    rank = ["est_bytes_out", "commands"] if basis == "bytes" else ["commands", "est_bytes_out"]
    return (
        pl.col(value)
        .sort_by([*rank, value], descending=[True, True, False], nulls_last=True)
        .first()
        .alias(name)
    )


def _finish(df: pl.DataFrame, duration: float, basis: str, keys: Sequence[str]) -> pl.DataFrame:
    """Null the byte sums nobody estimated, add ops/s, total-sort by the basis then `keys`."""
    # Byte sums over a minority of commands would mislead: unknown unless ranking by bytes.
    known = (pl.col("bytes_known") > 0) & pl.lit(basis == "bytes")
    df = df.with_columns(
        est_bytes_out=pl.when(known).then(pl.col("est_bytes_out")),
        ops_per_s=pl.col("commands") / duration,
    )
    rank = ["est_bytes_out", "commands"] if basis == "bytes" else ["commands", "est_bytes_out"]
    return df.sort(
        [*rank, *keys],
        descending=[True, True, *[False] * len(keys)],
        nulls_last=True,
    )


class Partials:
    """The group_bys of the rollups, added up chunk by chunk as the rows are made (no second
    read of the dataset): each `add` aggregates one chunk over integer ids and low-cardinality
    columns; `frames` re-aggregates the chunks' results (sums of sums, min of mins)."""

    # How many chunk results to keep before folding them into one (bounded memory however many
    # chunks; only distinct keys x commands stay).
    FOLD = 8

    def __init__(self) -> None:
        self.parts: dict[str, list[pl.DataFrame]] = {name: [] for name in _GROUPS}

    def add(self, rows: pl.DataFrame) -> None:
        client = rows.lazy().filter(CLIENT)
        plans = {
            "origins": rows.lazy()
            .group_by("node", "shard", "origin")
            .agg(
                *_sums(),
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
            .agg(*_sums(), max_reply_bytes=_BYTES.max()),
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
            .agg(*_sums(), max_reply_bytes=_BYTES.max()),
            "signatures": client.filter(pl.col("signature_id").is_not_null())
            .group_by("signature_id", "shard")
            .agg(*_sums()),
            "clients": client.group_by("client", "command").agg(*_sums()),
            "series": client.group_by("shard", second=pl.col("ts").floor().cast(pl.Int64)).agg(
                *_sums()
            ),
            # Per node and second: bytes out through time beside INFO polls (analyze/findings/timeline.py).
            "node_series": client.group_by(
                "node", "shard", second=pl.col("ts").floor().cast(pl.Int64)
            ).agg(*_sums()),
        }
        for name, frame in zip(plans, pl.collect_all(list(plans.values())), strict=True):
            self.parts[name].append(frame)
            if len(self.parts[name]) >= self.FOLD:
                self.parts[name] = [self._fold(name)]

    def _fold(self, name: str) -> pl.DataFrame:
        parts = self.parts[name]
        if len(parts) == 1:
            return parts[0]
        keys, extra = _GROUPS[name]
        return pl.concat(parts).group_by(keys).agg(*_resum(), *extra)

    def frame(self, name: str, schema_: dict[str, pl.DataType]) -> pl.DataFrame:
        if not self.parts[name]:
            return pl.DataFrame(schema=schema_)
        self.parts[name] = [self._fold(name)]
        return self.parts[name][0]

    def node_seconds(self) -> pl.DataFrame:
        """Client commands per node and second (for `analyze.extent`)."""
        return self.frame(
            "node_series",
            {"node": pl.String(), "shard": pl.String(), "second": pl.Int64(), **_SUM_SCHEMA},
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
            **_SUM_SCHEMA,
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


_SUM_SCHEMA: dict[str, pl.DataType] = {
    "commands": pl.Int64(),
    "est_bytes_out": pl.Int64(),
    "bytes_known": pl.Int64(),
    "request_bytes": pl.Int64(),
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


def _plans(
    t: Tables, part: Partials, keys_all: pl.LazyFrame, basis: str, limit: int
) -> dict[str, pl.LazyFrame]:
    """The lazy aggregations over the partials; `keys_all` is the per-key table."""
    rank = "est_bytes_out" if basis == "bytes" else "commands"
    ints = {"shard": pl.String(), "command": pl.String(), **_SUM_SCHEMA}

    def top(frame: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
        # Cut lazily so a million distinct keys never reach Python; exact ties at the cut are
        # broken by the group keys, so the cut is deterministic.
        return frame.sort(
            [rank, "commands", *keys],
            descending=[True, True, *[False] * len(keys)],
            nulls_last=True,
        ).head(limit)

    signatures = (
        part.frame("signatures", {"signature_id": pl.Int32(), **ints})
        .lazy()
        .group_by("signature_id")
        .agg(*_resum(), shards=pl.len().cast(pl.Int64))
        .join(
            t.signatures.lazy().select("signature_id", "signature", "command", "key_pattern"),
            on="signature_id",
        )
        .drop("signature_id")
    )
    kind, ip = client_columns(pl.col("client"))
    per_client = (
        part.frame("clients", {"client": pl.String(), **ints})
        .lazy()
        .with_columns(kind, ip)
        .with_columns(
            client_id=pl.when(pl.col("client_kind") == "internal")
            .then(pl.lit("(internal)"))
            .otherwise(pl.coalesce("client_ip", "client"))
        )
    )
    connections = per_client.group_by("client_id", "client_kind").agg(
        connections=pl.col("client").n_unique().cast(pl.Int64)
    )
    clients = (
        per_client.group_by("client_id", "client_kind", "command")
        .agg(*_resum())
        .group_by("client_id", "client_kind")
        .agg(*_resum(), top_command=_top_by("command", "top_command", basis))
        .join(connections, on=["client_id", "client_kind"], how="left")
    )
    series = (
        part.frame("series", {"shard": pl.String(), "second": pl.Int64(), **_SUM_SCHEMA})
        .lazy()
        .select("shard", "second", "commands", "est_bytes_out", "bytes_known")
    )
    # Full reads are judged on the (small) groups, once their command and arg shape are known.
    large_ops = (
        _key_signatures(t, part)
        .filter(pl.col("command").is_in(sorted(reads.CANDIDATES)))
        .join(t.keys.lazy().select("key_id", "key_name", "key_pattern"), on="key_id")
        .group_by("shard", "key_name", "command", "arg_shape")
        .agg(
            *_resum(),
            key_pattern=pl.col("key_pattern").min(),
            max_reply_bytes=pl.col("max_reply_bytes").max(),
        )
        .filter(full_read())
    )
    shard_commands = (
        part.frame("signatures", {"signature_id": pl.Int32(), "shard": pl.String(), **_SUM_SCHEMA})
        .lazy()
        .join(t.signatures.lazy().select("signature_id", "command"), on="signature_id")
        .group_by("shard", "command")
        .agg(*_resum())
    )
    return {
        "shard_commands": shard_commands,
        "shard_keys": keys_all.group_by("shard").agg(distinct_keys=pl.len().cast(pl.Int64)),
        "hot_keys": top(keys_all, ["shard", "key_name"]),
        "patterns": top(
            keys_all.filter(pl.col("key_pattern").is_not_null())
            .group_by("key_pattern")
            .agg(
                *_resum(),
                distinct_keys=pl.len().cast(pl.Int64),
                shards=pl.col("shard").n_unique().cast(pl.Int64),
            ),
            ["key_pattern"],
        ),
        "signatures": top(signatures, ["signature"]),
        "clients": top(clients, ["client_id", "client_kind"]),
        "slots": keys_all.filter(pl.col("slot").is_not_null())
        .group_by("shard", "slot")
        .agg(*_resum(), distinct_keys=pl.len().cast(pl.Int64)),
        "series": series,
        "large_ops": top(large_ops, ["shard", "key_name", "command", "arg_shape"]),
    }


def _key_signatures(t: Tables, part: Partials) -> pl.LazyFrame:
    """The per-key partial (shard, key_id, signature_id) with its command and arg shape; a key
    may have several rows per signature (its own and its shares of multi-key replies)."""
    sums = {"signature_id": pl.Int32(), **_SUM_SCHEMA, "max_reply_bytes": pl.Int64()}
    frame = part.frame("keys", {"shard": pl.String(), "key_id": pl.Int32(), **sums})
    shares = part.frame("shares", {"shard": pl.String(), "key_name": pl.String(), **sums})
    if shares.height:
        # Every key of a multi-key row is in the keys table (analyze/rows/rows.py registers them):
        # the names shared out are looked up there (the first id of a name), not every key's.
        names = shares["key_name"].unique().implode()
        ids = (
            t.keys.lazy()
            .select("key_name", "key_id")
            .filter(pl.col("key_name").is_in(names))
            .group_by("key_name")
            .agg(pl.col("key_id").min())
        )
        named = shares.lazy().join(ids, on="key_name", how="inner").select(frame.columns)
        # Not re-aggregated here: every reader groups these rows again (sums and maxima).
        return pl.concat([frame.lazy(), named]).join(
            t.signatures.lazy().select("signature_id", "command", "arg_shape"), on="signature_id"
        )
    return frame.lazy().join(
        t.signatures.lazy().select("signature_id", "command", "arg_shape"), on="signature_id"
    )


def _keys_all(t: Tables, part: Partials, basis: str) -> pl.DataFrame:
    """Per shard and key (client traffic): sums, slot, pattern and the command used most."""
    return (
        _key_signatures(t, part)
        .group_by("shard", "key_id", "command")
        .agg(*_resum())
        .group_by("shard", "key_id")
        .agg(*_resum(), top_command=_top_by("command", "top_command", basis))
        .join(
            t.keys.lazy().select("key_id", "key_name", "slot", "key_pattern", "key_binary"),
            on="key_id",
        )
        .drop("key_id")
        .collect()
    )


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
    keys_all = _keys_all(t, partials, basis)
    plans = _plans(t, partials, keys_all.lazy(), basis, limit)
    # The plans read the partials (small), never the rows: they can all run at once.
    frames = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))

    nodes = by_origin.group_by("node", "shard", "role").agg(
        *_client_sums(),
        replicated=_origin_count(schema.ORIGIN_REPLICATED),
        script=_origin_count(schema.ORIGIN_SCRIPT),
    )
    shards = by_origin.group_by("shard").agg(
        *_client_sums(),
        replicated=_origin_count(schema.ORIGIN_REPLICATED),
        script=_origin_count(schema.ORIGIN_SCRIPT),
        nodes=pl.col("node").n_unique().cast(pl.Int64),
        first_ts=pl.col("first_ts").min(),
        last_ts=pl.col("last_ts").max(),
    )
    series = frames["series"].sort("shard", "second")
    peaks = series.group_by("shard").agg(peak_ops_per_s=pl.col("commands").max())
    shard_cmds = frames["shard_commands"]
    top_cmd = shard_cmds.group_by("shard").agg(top_command=_top_by("command", "top_command", basis))
    shards = (
        shards.join(frames["shard_keys"], on="shard", how="left")
        .join(peaks, on="shard", how="left")
        .join(top_cmd, on="shard", how="left")
        .with_columns(pl.col("peak_ops_per_s", "distinct_keys").fill_null(0))
    )
    shards = _with_known_shards(shards, shards_known)
    shards = _finish(shards, duration, basis, ["shard"])
    shards = _with_shares(shards, basis)

    nodes = _with_known_nodes(nodes, nodes_known)
    nodes = _finish(nodes, duration, basis, ["shard", "node", "role"])

    share_of = shards.select(
        "shard",
        shard_commands=pl.col("commands"),
        shard_bytes=pl.col("est_bytes_out"),
    )

    def shared(df: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
        df = _finish(df, duration, basis, keys)
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
        df = _finish(df, duration, basis, keys)
        value = pl.col("est_bytes_out") if basis == "bytes" else pl.col("commands")
        return df.with_columns(share=value / total_rank if total_rank else pl.lit(None, pl.Float64))

    return Rollups(
        totals=tot,
        duration=duration,
        shards=shards,
        nodes=nodes,
        shard_commands=_finish(shard_cmds, duration, basis, ["shard", "command"]),
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
            {"node": pl.String(), "shard": pl.String(), "second": pl.Int64(), **_SUM_SCHEMA},
        ).sort("node", "shard", "second"),
        shard_patterns=keys_all.group_by("shard", "key_pattern")
        .agg(*_resum())
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
