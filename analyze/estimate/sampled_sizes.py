"""The key-size samples as frames for the reply model (replies.py): one row per sampled (node,
key) with the analysis' pattern (`sizes_frame`), averages per pattern with its share of missing
keys (`pattern_sizes`), and the lookup maps of hash fields and of GET replies on strings.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from hotshard.analyze.keys import patterns
from hotshard.capture.format.manifest import KeySize
from hotshard.capture.format.resp import NULL, RESP3_NULL, bulk, decimal_digits

# Averaged per key in `sizes_frame`, per pattern in `pattern_sizes`.
METRICS = (
    "card",
    "member_bulk",
    "field_bulk",
    "value_bulk",
    "value_len",
    "score_bulk",
    "score_len",
    "entry_bytes",
    "edge_n",
    "head_member_bulk",
    "head_score_bulk",
    "tail_member_bulk",
    "tail_score_bulk",
    "ttl_ms",
)

SIZES_SCHEMA: dict[str, pl.DataType] = {
    "node": pl.String(),
    "key_name": pl.String(),
    "key_pattern": pl.String(),
    "type": pl.String(),
    "encoding": pl.String(),
    "card": pl.Int64(),
    "memory_usage": pl.Int64(),
    "sample_n": pl.Int64(),
    "member_bulk": pl.Float64(),
    "field_bulk": pl.Float64(),
    "value_bulk": pl.Float64(),
    "value_len": pl.Float64(),
    "score_bulk": pl.Float64(),
    "score_len": pl.Float64(),
    "entry_bytes": pl.Float64(),
    "edge_n": pl.Int64(),
    "head_member_bulk": pl.Float64(),
    "head_score_bulk": pl.Float64(),
    "tail_member_bulk": pl.Float64(),
    "tail_score_bulk": pl.Float64(),
    "ttl_ms": pl.Int64(),
}


# A hash whose sample saw every field (`KeySize.fields`): MONITOR-quoted field -> value length.
FIELDS = pl.List(pl.Struct({"field": pl.String(), "value_len": pl.Int64()}))


# -- sizes --------------------------------------------------------------------------------------
def sizes_frame(
    key_sizes: list[KeySize], rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES
) -> pl.DataFrame:
    """One row per (node, key) that sampling measured (`SIZES_SCHEMA`), with the key's pattern
    by the analysis' own `rules`, so sampled keys and captured keys agree."""
    measured = [s for s in key_sizes if s.type is not None]  # else: its error is in key sizes
    # Column by column: a frame from one dict per key costs ~10 µs a key (40k keys: 0.4 s).
    columns = {
        "node": [s.node for s in measured],
        "key_name": [s.key for s in measured],
        "key_pattern": [None] * len(measured),
        "type": [s.type for s in measured],
        "encoding": [s.encoding for s in measured],
        "card": [
            s.cardinality if s.cardinality is not None else (0 if s.type == "none" else None)
            for s in measured
        ],
        "memory_usage": [s.memory_usage for s in measured],
        "sample_n": [s.sample_n for s in measured],
        "member_bulk": [_bulk(s.avg_member_bulk, s.avg_member_len) for s in measured],
        "field_bulk": [_bulk(s.avg_field_bulk, s.avg_field_len) for s in measured],
        "value_bulk": [_bulk(s.avg_value_bulk, s.avg_value_len) for s in measured],
        "value_len": [s.avg_value_len for s in measured],
        "score_bulk": [_bulk(s.avg_score_bulk, s.avg_score_len) for s in measured],
        "score_len": [s.avg_score_len for s in measured],
        "entry_bytes": [s.avg_entry_bytes for s in measured],
        "edge_n": [s.edge_n for s in measured],
        "head_member_bulk": [s.head_member_bulk for s in measured],
        "head_score_bulk": [s.head_score_bulk for s in measured],
        "tail_member_bulk": [s.tail_member_bulk for s in measured],
        "tail_score_bulk": [s.tail_score_bulk for s in measured],
        "ttl_ms": [s.ttl_ms for s in measured],
        "fields": [
            None
            if s.fields is None or s.type != "hash"
            else [{"field": f, "value_len": n} for f, n in sorted(s.fields.items())]
            for s in measured
        ],
    }
    frame = pl.DataFrame(columns, schema=SIZES_SCHEMA | {"fields": FIELDS})
    # One row per node+key even if sampling listed a key twice.
    frame = frame.unique(["node", "key_name"], keep="first").sort(["node", "key_name"])
    with_patterns = patterns.add_pattern(frame.drop("key_pattern").lazy(), "key_name", rules)
    return with_patterns.collect().select(*SIZES_SCHEMA, "fields").sort(["node", "key_name"])


def _bulk(averaged: float | None, length: float | None) -> float | None:
    """An element's RESP2 bulk size: as sampled, or else from its average length."""
    return averaged if averaged is not None else _bulk_of(length)


def _bulk_of(length: float | None) -> float | None:
    if length is None:
        return None
    return bulk(length, lambda n: decimal_digits(round(n)))


def pattern_sizes(sizes: pl.DataFrame) -> pl.DataFrame:
    """Averages per key pattern over the sampled keys of its most common type among the keys
    that exist (ties: by name), and `miss`, the share of its sampled keys that were missing.

    A pattern read mostly for keys that are not there (a cache with more misses than hits)
    is sized as `miss` x the null reply + (1 - `miss`) x the reply on the keys that exist
    (`Lookup.model`); a pattern whose samples were all missing is of type `none`, `miss` 0."""
    known = sizes.filter(pl.col("key_pattern").is_not_null())
    if not known.height:
        return pl.DataFrame(
            schema={"key_pattern": pl.String(), "type": pl.String()}
            | {m: pl.Float64() for m in METRICS}
            | {"miss": pl.Float64()}
        )
    missing = (
        known.group_by("key_pattern")
        .agg(
            n=pl.len(),
            n_none=(pl.col("type") == "none").sum(),
        )
        .select(
            "key_pattern",
            miss=pl.when(pl.col("n_none") < pl.col("n"))
            .then(pl.col("n_none") / pl.col("n"))
            .otherwise(0.0),
        )
    )
    # `none` only where no sampled key of the pattern exists.
    types = (
        known.group_by("key_pattern", "type")
        .agg(n=pl.len(), exists=pl.col("type").first() != "none")
        .sort(["key_pattern", "exists", "n", "type"], descending=[False, True, True, False])
        .group_by("key_pattern", maintain_order=True)
        .first()
        .select("key_pattern", "type")
    )
    return (
        known.join(types, on=["key_pattern", "type"], how="inner")
        .group_by("key_pattern", "type")
        .agg([pl.col(m).cast(pl.Float64).mean() for m in METRICS])
        .join(missing, on="key_pattern", how="left")
        .sort("key_pattern")
    )


def field_frame(sizes: pl.DataFrame) -> pl.DataFrame:
    """The hashes whose sample saw every field: key_name, fields (a key sampled on several nodes
    takes its first node's)."""
    if "fields" not in sizes.columns:
        return pl.DataFrame(schema={"key_name": pl.String(), "fields": FIELDS})
    return (
        sizes.filter(pl.col("fields").is_not_null() & (pl.col("type") == "hash"))
        .sort(["key_name", "node"])
        .unique("key_name", keep="first")
        .sort("key_name")
        .select("key_name", "fields")
    )


def field_map(full: pl.DataFrame, key_names: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    """The `metrics` rows (`_sz`) of the hashes in `full`, and `<row>\\x00<field>` -> RESP bytes
    of that field's value as a bulk string (the same in RESP2 and RESP3)."""
    index = pl.DataFrame({"key_name": key_names}).with_row_index("_sz")
    rows = full.join(index, on="key_name", how="inner").sort("_sz")
    pairs = rows.select("_sz", "fields").explode("fields").unnest("fields")
    pairs = pairs.filter(pl.col("field").is_not_null())
    return (
        rows["_sz"].cast(pl.UInt32),
        pairs.select(
            pl.concat_str(pl.col("_sz").cast(pl.String), pl.lit("\x00"), "field")
        ).to_series(),
        pl.Series([bulk(n) for n in pairs["value_len"].to_list()], dtype=pl.Int64),
    )


def string_map(keys: pl.DataFrame, resp: int) -> dict[str, int]:
    """key_name -> RESP bytes of GET on it (strings and missing keys), for MGET's per-key sum."""
    rows = keys.filter(pl.col("type").is_in(["string", "none"]))
    out: dict[str, int] = {}
    for key, typ, card in rows.select("key_name", "type", "card").iter_rows():
        length = round(card or 0)
        out[key] = (RESP3_NULL if resp == 3 else NULL) if typ == "none" else bulk(length)
    return out
