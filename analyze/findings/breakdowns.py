"""The ranked breakdowns of client traffic, from the partial sums: hot keys (per shard and key,
with the command used most), key patterns, signatures, clients, slots, commands per shard and
the whole-collection reads (`full_read`). Each ranking is cut lazily to its limit and ends in a
total sort with the group keys as tie-breakers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from hotshard.analyze.findings.partials import SUM_SCHEMA, Partials, resum
from hotshard.analyze.store.dataset import Tables, client_columns
from hotshard.capture.format import reads

# Rows of `key_signatures` grouped at once into the per-key table (`keys_all`).
KEY_SLICE_ROWS = 1 << 18


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


def top_by(value: str, name: str, basis: str) -> pl.Expr:
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


def finish(df: pl.DataFrame, duration: float, basis: str, keys: Sequence[str]) -> pl.DataFrame:
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


def plans(
    t: Tables, part: Partials, ks: pl.DataFrame, per_key: pl.DataFrame, basis: str, limit: int
) -> dict[str, pl.LazyFrame]:
    """The lazy aggregations over the partials; `ks` is `key_signatures`, `per_key` the per-key
    table (`keys_all`), both with `shard` as an Enum (`shard_text` turns it back)."""
    keys_all = per_key.lazy()
    rank = "est_bytes_out" if basis == "bytes" else "commands"
    ints = {"shard": pl.String(), "command": pl.String(), **SUM_SCHEMA}

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
        .agg(*resum(), shards=pl.len().cast(pl.Int64))
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
        .agg(*resum())
        .group_by("client_id", "client_kind")
        .agg(*resum(), top_command=top_by("command", "top_command", basis))
        .join(connections, on=["client_id", "client_kind"], how="left")
    )
    series = (
        part.frame("series", {"shard": pl.String(), "second": pl.Int64(), **SUM_SCHEMA})
        .lazy()
        .select("shard", "second", "commands", "est_bytes_out", "bytes_known")
    )
    shard_commands = (
        part.frame("signatures", {"signature_id": pl.Int32(), "shard": pl.String(), **SUM_SCHEMA})
        .lazy()
        .join(t.signatures.lazy().select("signature_id", "command"), on="signature_id")
        .group_by("shard", "command")
        .agg(*resum())
    )
    return {
        "shard_commands": shard_commands,
        "shard_keys": keys_all.group_by("shard")
        .agg(distinct_keys=pl.len().cast(pl.Int64))
        .with_columns(shard_text()),
        "hot_keys": hot_keys(ks, per_key, t, basis, limit),
        "patterns": top(
            keys_all.filter(pl.col("key_pattern").is_not_null())
            .group_by("key_pattern")
            .agg(
                *resum(),
                distinct_keys=pl.len().cast(pl.Int64),
                shards=pl.col("shard").n_unique().cast(pl.Int64),
            ),
            ["key_pattern"],
        ),
        "signatures": top(signatures, ["signature"]),
        "clients": top(clients, ["client_id", "client_kind"]),
        "slots": keys_all.filter(pl.col("slot").is_not_null())
        .group_by("shard", "slot")
        .agg(*resum(), distinct_keys=pl.len().cast(pl.Int64))
        .with_columns(shard_text()),
        "series": series,
        "large_ops": top(large_ops(ks, t), ["shard", "key_name", "command", "arg_shape"]),
    }


def shard_text() -> pl.Expr:
    """`shard` back to text, as every output has it (inside, it is an Enum: `key_signatures`)."""
    return pl.col("shard").cast(pl.String)


def key_signatures(t: Tables, part: Partials) -> pl.DataFrame:
    """The per-key partial (shard, key_id, signature_id, sums); a key may have several rows per
    signature (its own and its shares of multi-key replies). `shard` is an Enum of the shards'
    sorted names: a million rows carry a small integer, not a string, through the group_bys.
    The command and arg shape are looked up by the few readers that need them, on their rows."""
    sums = {"signature_id": pl.Int32(), **SUM_SCHEMA, "max_reply_bytes": pl.Int64()}
    # The chunks' sums as they are, not folded into one first: every reader groups these rows
    # again (sums and maxima), and a fold of a million keys held ~200 MiB more at its peak.
    frame = part.pieces("keys", {"shard": pl.String(), "key_id": pl.Int32(), **sums})
    shares = part.frame("shares", {"shard": pl.String(), "key_name": pl.String(), **sums})
    if shares.height:
        # Every key of a multi-key row is in the keys table (analyze/rows/make.py registers them):
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
        # Not rechunked either: the partial's columns are shared, not copied.
        frame = pl.concat([frame, named.collect()], rechunk=False)
    shards = pl.Enum(sorted(frame["shard"].drop_nulls().unique().to_list()))
    return frame.with_columns(pl.col("shard").cast(shards))


def keys_all(ks: pl.DataFrame, t: Tables) -> pl.DataFrame:
    """Per shard and key id (client traffic, from `key_signatures`): sums, slot and pattern.
    Names and the command used most are looked up for the hot keys only (`hot_keys`): a
    million keys are counted, a thousand are shown."""
    # A slice of key ids at a time: the group_by's hash tables hold a slice's keys, not a
    # million (highcard: +139 -> +70 MiB over the frames, and less CPU).
    slices = max(1, -(-ks.height // KEY_SLICE_ROWS))
    key_id = pl.col("key_id")
    low, high = ks.select(low=key_id.min().fill_null(0), high=key_id.max().fill_null(0)).row(0)
    width = -(-(high - low + 1) // slices)
    per_key = pl.concat(
        [
            ks.lazy()
            .filter(key_id.is_between(low + i * width, low + (i + 1) * width, closed="left"))
            .group_by("shard", "key_id")
            .agg(*resum())
            .collect()
            for i in range(slices)
        ],
        rechunk=False,
    )
    return with_keys(per_key, t.keys, ["slot", "key_pattern"])


def with_keys(frame: pl.DataFrame, keys: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """`frame` (with a `key_id` the keys table has) with `columns` of each row's key. The
    analyzer's keys table is by id (row i is key i): gathered, no hash table of a million keys;
    joined when it is not."""
    ids, at = keys["key_id"], frame["key_id"]
    by_id = (ids == pl.int_range(ids.len(), eager=True)).all()
    largest = frame.select(pl.col("key_id").max()).item()
    if by_id and not at.has_nulls() and (largest is None or largest < ids.len()):
        return frame.with_columns(keys[c].gather(at) for c in columns)
    return frame.join(keys.select("key_id", *columns), on="key_id")


def large_ops(ks: pl.DataFrame, t: Tables) -> pl.LazyFrame:
    """The whole-collection reads (`full_read`) per shard, key and signature; judged on the
    signatures table (a few rows), then only their keys' rows are looked at."""
    full = (
        t.signatures.lazy()
        .filter(pl.col("command").is_in(sorted(reads.CANDIDATES)))
        .filter(full_read())
        .select("signature_id", "command", "arg_shape")
        .collect()
    )
    rows = ks.filter(pl.col("signature_id").is_in(full["signature_id"].implode()))
    rows = with_keys(rows, t.keys, ["key_name", "key_pattern"])
    return (
        rows.lazy()
        .join(full.lazy(), on="signature_id")
        .with_columns(shard_text())
        .group_by("shard", "key_name", "command", "arg_shape")
        .agg(
            *resum(),
            key_pattern=pl.col("key_pattern").min(),
            max_reply_bytes=pl.col("max_reply_bytes").max(),
        )
    )


def hot_keys(
    ks: pl.DataFrame, keys_all: pl.DataFrame, t: Tables, basis: str, limit: int
) -> pl.LazyFrame:
    """The `limit` hottest keys of `keys_all` by the ranking, with name and top command.

    Cut first on the ranking's sums alone, keeping every key tied with the last one kept;
    only those get their names, which break the ties exactly as a sort of all keys would."""
    rank = "est_bytes_out" if basis == "bytes" else "commands"
    # The ranking as plain integers: sums are never negative, so -1 sorts a null last.
    r, c = pl.col(rank).fill_null(-1), pl.col("commands")
    kept = keys_all
    if keys_all.height > limit:
        # The last kept (r, c) one column at a time: a two-column top_k of a million rows
        # held twice the memory.
        ranks = keys_all[rank].fill_null(-1)
        last_r = ranks.top_k(limit).min()
        above = int((ranks > last_r).sum())
        last_c = keys_all["commands"].filter(ranks == last_r).top_k(limit - above).min()
        kept = kept.filter((r > last_r) | ((r == last_r) & (c >= last_c)))
    hot = (
        with_keys(kept, t.keys, ["key_name", "key_binary"])
        .lazy()
        .sort(
            [rank, "commands", shard_text(), "key_name"],
            descending=[True, True, False, False],
            nulls_last=True,
        )
        .head(limit)
    )
    top = (
        ks.lazy()
        .join(hot.select("shard", "key_id"), on=["shard", "key_id"], how="semi")
        .join(t.signatures.lazy().select("signature_id", "command"), on="signature_id")
        .group_by("shard", "key_id", "command")
        .agg(*resum())
        .group_by("shard", "key_id")
        .agg(top_by("command", "top_command", basis))
    )
    return (
        hot.join(top, on=["shard", "key_id"], how="left")
        .with_columns(shard_text())
        .select(
            "shard", *SUM_SCHEMA, "top_command", "key_name", "slot", "key_pattern", "key_binary"
        )
    )
