"""The reply model: estimated bytes each MONITOR command sent back to its client.

MONITOR shows requests, never replies. The bytes out come from the command's shape (index ranges,
counts, WITHSCORES, LIMIT, ...) and what sampling learned about the key (`hotshard.capture.sizing`), with
the exact RESP framing of capture/format/resp.py (docs/RECONCILE.md, "RESP sizes").

Every row gets a `reply_confidence` (schema.CONFIDENCES):
    exact    the command alone fixes the reply (+OK, :0/:1, PING, MSET...), or the writes
             MONITOR showed before it do (a GET after `SET k v`, an empty read after a DEL)
    sampled-during  the key's size measured inside the window, with no write between that
             measurement and the read (capture/window_sample.py; analyze/estimate/through_time.py)
    replayed  a collection's cardinality replayed from one sample through the writes MONITOR
             showed between it and the read (analyze/estimate/cardinality.py)
    interpolated  a collection read between two samples, its cardinality placed by the
             writes MONITOR showed (analyze/estimate/cardinality.py)
    sampled  this key's own after-window sample (on this node or its shard)
    pattern  the averages of the key's pattern (no sample of its own)
    unknown  no honest estimate: `reply_bytes` is null (EVAL, PUBLISH, SCAN, unsampled keys, ...)
    none     not client output: replicated writes and script sub-commands (`reply_bytes` 0)

HGET/HMGET of a small hash whose sample saw every field (`KeySize.fields`) size each field by
its own value, and a field the sample did not show as a null reply; on other hashes a field is
assumed to exist, at the average value size. Known approximations: a range is assumed to exist
as sampled; the field set of the after-window sample stands for the whole window (an HSET or
HDEL of a field inside the window is not replayed); BYSCORE/BYLEX with LIMIT assume the range
holds `count` elements; commands queued in MULTI are costed as if run alone (their `+QUEUED`
replies and EXEC's header are not counted: EXEC is `unknown`).

How it runs: a few vectorized lookups give each row its features (sampled key or pattern, the
arguments that matter); the rules in `hotshard.analyze.estimate.reply_model` are evaluated once per distinct
combination of features and joined back (`hotshard.analyze.rows.make` per chunk, `estimate` for any frame).
No Python per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate.reply_model import chain, rules, unescaped_len
from hotshard.analyze.keys import patterns
from hotshard.analyze.sparse import only_rows
from hotshard.capture.format.manifest import KeySize
from hotshard.capture.format.resp import NULL, RESP3_NULL, bulk, decimal_digits

# Averaged per key in `sizes_frame`, per pattern in `pattern_sizes`.
_METRICS = (
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
_FIELDS = pl.List(pl.Struct({"field": pl.String(), "value_len": pl.Int64()}))
_HASH_READS = ["hget", "hmget"]


# -- sizes --------------------------------------------------------------------------------------
def sizes_frame(
    key_sizes: list[KeySize], rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES
) -> pl.DataFrame:
    """One row per (node, key) that sampling measured (`SIZES_SCHEMA`), with the key's pattern
    by the analysis' own `rules`, so sampled keys and captured keys agree."""
    rows = []
    for s in key_sizes:
        if s.type is None:
            continue  # the key could not be measured (its error is in the capture's key sizes)
        score_len = s.avg_score_len
        rows.append(
            {
                "node": s.node,
                "key_name": s.key,
                "key_pattern": None,
                "type": s.type,
                "encoding": s.encoding,
                "card": s.cardinality
                if s.cardinality is not None
                else (0 if s.type == "none" else None),
                "memory_usage": s.memory_usage,
                "sample_n": s.sample_n,
                "member_bulk": s.avg_member_bulk
                if s.avg_member_bulk is not None
                else _bulk_of(s.avg_member_len),
                "field_bulk": s.avg_field_bulk
                if s.avg_field_bulk is not None
                else _bulk_of(s.avg_field_len),
                "value_bulk": s.avg_value_bulk
                if s.avg_value_bulk is not None
                else _bulk_of(s.avg_value_len),
                "value_len": s.avg_value_len,
                "score_bulk": s.avg_score_bulk
                if s.avg_score_bulk is not None
                else _bulk_of(score_len),
                "score_len": score_len,
                "entry_bytes": s.avg_entry_bytes,
                "edge_n": s.edge_n,
                "head_member_bulk": s.head_member_bulk,
                "head_score_bulk": s.head_score_bulk,
                "tail_member_bulk": s.tail_member_bulk,
                "tail_score_bulk": s.tail_score_bulk,
                "ttl_ms": s.ttl_ms,
                "fields": None
                if s.fields is None or s.type != "hash"
                else [{"field": f, "value_len": n} for f, n in sorted(s.fields.items())],
            }
        )
    frame = pl.DataFrame(rows, schema=SIZES_SCHEMA | {"fields": _FIELDS})
    # One row per node+key even if sampling listed a key twice.
    frame = frame.unique(["node", "key_name"], keep="first").sort(["node", "key_name"])
    with_patterns = patterns.add_pattern(frame.drop("key_pattern").lazy(), "key_name", rules)
    return with_patterns.collect().select(*SIZES_SCHEMA, "fields").sort(["node", "key_name"])


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
            | {m: pl.Float64() for m in _METRICS}
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
        .agg([pl.col(m).cast(pl.Float64).mean() for m in _METRICS])
        .join(missing, on="key_pattern", how="left")
        .sort("key_pattern")
    )


# -- the estimate ---------------------------------------------------------------------------------
# Commands whose arguments after the key (start/stop, counts, options) shape the reply.
ARG_COMMANDS = [
    "lrange",
    "zrange",
    "zrevrange",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "getrange",
    "substr",
    "lindex",
    "lpop",
    "rpop",
    "spop",
    "srandmember",
    "hrandfield",
    "zrandmember",
    "zpopmin",
    "zpopmax",
    "hscan",
    "sscan",
    "zscan",
    "xrange",
    "xrevrange",
    "incrby",
    "decrby",
]
_XREAD = ("xread", "xreadgroup")


def estimate(lf: pl.LazyFrame, lookup: Lookup) -> pl.LazyFrame:
    """Add `reply_bytes` (Int64, null = unknown) and `reply_confidence` to a frame of rows.

    Needs the columns origin, command, args (as quoted), arg_count, keys (text, multi-key
    commands), key_count, key_name, and the key's size columns `_key_sz`, `_key_own`, `_key_pim`
    (`Lookup.key_columns`). The analyzer itself models distinct combinations per chunk
    (`hotshard.analyze.rows.make`); this is the same model for any frame of rows, each distinct combination of
    features modelled once and joined back.
    """
    features = lookup.features()
    rows = lf.with_columns(**features).collect()
    combos = rows.select(list(features)).unique(maintain_order=True)
    modelled = pl.concat([combos, lookup.estimate_combos(combos)], how="horizontal")
    return (
        rows.join(modelled, on=list(features), how="left", nulls_equal=True, maintain_order="left")
        .drop(*features)
        .lazy()
    )


# Features of the key's sampled size and of the sender, beside the command's own (`tail_features`).
KEY_FEATURES = ("_f_client", "_f_own", "_f_sz", "_f_pim")
_PLAIN = ("command", "arg_count", "key_count")  # model inputs named like the table's columns


def _model_name(feature: str) -> str:
    name = feature.removeprefix("_f")  # `_f_sz` -> `_sz`, the model's name
    return name[1:] if name[1:] in _PLAIN else name


class Lookup:
    """The sampled sizes as lookup tables, and the per-batch estimate that uses them.

    `sizes` is `sizes_frame(...)` (None: only exact replies are known); `resp` is what the
    application clients speak (2 or 3). Score sizes come from samples taken on the same server,
    so the server version needs no say here (Redis < 7.2 prints 17 significant digits, 7.2+ the
    shortest form: the samples carry whichever it printed)."""

    def __init__(self, sizes: pl.DataFrame | None, resp: int = 2) -> None:
        self.resp = resp
        if sizes is None:
            sizes = pl.DataFrame(schema=SIZES_SCHEMA)
        full = _field_frame(sizes)
        sizes = sizes.select(list(SIZES_SCHEMA)).cast(SIZES_SCHEMA)  # type: ignore[arg-type]
        # A key sampled on several nodes (a primary and its replica) is the same data: average.
        keys = (
            sizes.sort(["key_name", "node"])
            .group_by("key_name", maintain_order=True)
            .agg(
                pl.col("type").first(),
                pl.col("encoding").first(),
                *[pl.col(m).cast(pl.Float64).mean() for m in _METRICS],
            )
            .sort("key_name")
        )
        pats = pattern_sizes(sizes)
        if not pats.height:
            pats = pl.DataFrame(
                schema={"key_pattern": pl.String(), "type": pl.String()}
                | {m: pl.Float64() for m in _METRICS}
                | {"miss": pl.Float64()}
            )
        # Enum casts map a name to its row: elementwise in the streaming engine and built once
        # (a dict given to `replace_strict` is converted again for every batch).
        self.key_enum = pl.Enum(keys["key_name"].to_list())
        self.pattern_enum = pl.Enum(pats["key_pattern"].to_list())
        n_keys = keys.height
        self.n_keys = n_keys
        self.hash_rows, self.field_keys, self.field_bytes = _field_map(full, keys["key_name"])
        self.field_names = (
            full.select(pl.col("fields").explode().struct.field("field"))
            .to_series()
            .drop_nulls()
            .unique()
            .sort()
        )
        metric_cols = ["type", "encoding", *_METRICS, "miss"]
        table = pl.concat(
            [
                keys.with_columns(miss=pl.lit(0.0)).select(metric_cols),
                pats.with_columns(encoding=pl.lit(None, pl.String)).select(metric_cols),
            ]
        )
        self.metrics = table.rename({c: f"_{c}" for c in metric_cols}).with_columns(
            _sz=pl.int_range(pl.len(), dtype=pl.UInt32)
        )
        self.patterns = pats.select(_p_type="type", _p_card="card", _p_miss="miss").with_columns(
            _pim=pl.int_range(pl.len(), dtype=pl.UInt32)
        )
        strings = _string_map(keys, resp)
        self.string_keys = pl.Series(list(strings), dtype=pl.String)
        self.string_bytes = pl.Series(list(strings.values()), dtype=pl.Int64)
        self.stages, self.rules = rules(resp)
        # Per client, the protocol it speaks (`_resp3` of a combination: analyze/rows/make.py).
        self.by_protocol = {2: rules(2), 3: rules(3)}

    def key_columns(self, key_name: pl.Series, key_pattern: pl.Series) -> pl.DataFrame:
        """Per key (distinct keys: `hotshard.analyze.rows.ids`): `_key_sz`, the row of `metrics`
        its reply is sized from (its own sample, else its pattern's), `_key_own` (its own
        sample) and `_key_pim` (its pattern's row in `patterns`, for MGET)."""
        ki = key_name.cast(self.key_enum, strict=False).to_physical().cast(pl.UInt32)
        pi = key_pattern.cast(self.pattern_enum, strict=False).to_physical().cast(pl.UInt32)
        return pl.DataFrame({"ki": ki, "pi": pi}).select(
            _key_sz=pl.coalesce("ki", pl.col("pi") + self.n_keys).cast(pl.UInt32),
            _key_own=pl.col("ki").is_not_null(),
            _key_pim=pl.col("pi"),
        )

    def features(self) -> dict[str, pl.Expr]:
        """Per row, only what the reply depends on: most rows share their combination."""
        cmd = pl.col("command")
        args = pl.col("args")
        need = cmd.is_in(ARG_COMMANDS)
        # Mask the arguments first: list work then only happens on the rows that need it.
        ranged = pl.when(need).then(args)
        set_opts = pl.when(cmd == "set").then(args).list.slice(2)
        zadd_opts = pl.when(cmd == "zadd").then(args).list.slice(1, 3)
        xread = cmd.is_in(_XREAD)
        value_at = (
            pl.when(cmd.is_in(["ping", "echo"]))
            .then(0)
            .when(cmd == "append")
            .then(1)
            .when(cmd == "setrange")
            .then(2)
        )
        value = pl.when(value_at.is_not_null()).then(args).list.get(value_at, null_on_oob=True)
        # MGET: the sum of the sampled GET replies of its keys, and how many keys had none.
        # (`only_rows`, not `when/then`: a lookup in `list.eval` over masked lists ran per row)
        mget = only_rows(pl.col("keys"), cmd == "mget").list.eval(
            pl.element().replace_strict(
                self.string_keys, self.string_bytes, default=None, return_dtype=pl.Int64
            )
        )
        # HGET/HMGET: the fields asked, MONITOR-quoted (`\x01`, `\x02` are never raw bytes in
        # them). A field no hash's sample showed is a miss wherever it is asked: all such fields
        # are one (`\x02`), so distinct user fields do not multiply the combinations.
        asked = None
        if self.hash_rows.len():
            asked = (
                only_rows(args, cmd.is_in(_HASH_READS))
                .list.slice(1)
                .list.eval(
                    pl.when(pl.element().is_in(self.field_names.implode()))
                    .then(pl.element())
                    .otherwise(pl.lit("\x02"))
                )
                .list.join("\x01")
            )
        return {
            "_f_command": cmd,
            "_f_arg_count": pl.col("arg_count"),
            "_f_key_count": pl.col("key_count"),
            "_f_client": pl.col("origin") == schema.ORIGIN_CLIENT,
            "_f_own": pl.col("_key_own").fill_null(False),
            "_f_sz": pl.col("_key_sz"),
            "_f_pim": pl.when(cmd == "mget").then(pl.col("_key_pim")),
            "_f_s1": _bound(ranged.list.get(1, null_on_oob=True), cmd),
            "_f_s2": _bound(ranged.list.get(2, null_on_oob=True), cmd),
            "_f_tail": ranged.list.slice(3).list.join(" "),
            "_f_set_get": (set_opts.list.contains("GET") | set_opts.list.contains("get")).fill_null(
                False
            ),
            "_f_zincr": (
                zadd_opts.list.contains("INCR") | zadd_opts.list.contains("incr")
            ).fill_null(False),
            "_f_vlen": unescaped_len(value),
            "_f_xr": pl.when(xread)
            .then(args)
            .list.slice(0, 6)
            .list.join(" ")
            .str.to_uppercase()
            .str.extract(r"(?:^| )COUNT (\d+)", 1)
            .cast(pl.Int64, strict=False),
            "_f_klen": pl.when(xread).then(pl.col("key_name")).str.len_bytes().cast(pl.Int64),
            "_f_mget_known": mget.list.sum(),
            "_f_mget_missing": mget.list.eval(pl.element().is_null()).list.sum().cast(pl.Int64),
            "_f_hfields": pl.lit(None, pl.String) if asked is None else asked,
        }

    def tail_features(self) -> dict[str, pl.Expr]:
        """The features that depend on the command and its arguments alone: not on the key's
        sampled size (`KEY_FEATURES`) nor on who sent it."""
        return {k: v for k, v in self.features().items() if k not in KEY_FEATURES}

    def estimate_combos(self, combos: pl.DataFrame) -> pl.DataFrame:
        """`reply_bytes` and `reply_confidence` of each row of `combos` (distinct combinations
        carrying every feature column of `features`), in the same order."""
        names = {c: _model_name(c) for c in combos.columns if c.startswith("_f_")}
        framed = combos.select(*names, _combo=pl.int_range(pl.len(), dtype=pl.UInt32))
        out = self.model(framed.rename(names))
        return out.sort("_combo").select("reply_bytes", "reply_confidence")

    def model(self, combos: pl.DataFrame) -> pl.DataFrame:
        """reply_bytes and reply_confidence for distinct feature combinations; a combination
        whose `_resp3` is set (its client said HELLO 3, or CLIENT LIST showed resp=3) is framed
        in RESP3, one whose `_resp3` is false in RESP2, the others in the analysis' default."""
        if "_resp3" not in combos.columns:
            return self._model(combos, self.stages, self.rules)
        r3 = pl.col("_resp3")
        default = self.resp == 3
        parts = []
        for proto, rows in (
            (3, combos.filter(r3.fill_null(default))),
            (2, combos.filter(~r3.fill_null(default))),
        ):
            if rows.height:
                parts.append(self._model(rows, *self.by_protocol[proto]))
        if len(parts) == 1:
            return parts[0]
        return pl.concat(parts).sort("_combo") if "_combo" in combos.columns else pl.concat(parts)

    def _model(
        self, combos: pl.DataFrame, stages: list[dict[str, pl.Expr]], rule_list: list[Any]
    ) -> pl.DataFrame:
        modelled = (
            combos.join(self.metrics, on="_sz", how="left")
            .join(self.patterns, on="_pim", how="left")
            .with_columns(
                _src=pl.when("_own")
                .then(pl.lit("sampled"))
                .when(pl.col("_sz").is_not_null())
                .then(pl.lit("pattern")),
                _opts=pl.concat_str(
                    pl.lit(" "),
                    pl.col("_s1").fill_null(""),
                    pl.lit(" "),
                    pl.col("_s2").fill_null(""),
                    pl.lit(" "),
                    pl.col("_tail").fill_null(""),
                    pl.lit(" "),
                ).str.to_uppercase(),
            )
        )
        modelled = modelled.with_columns(**self._hash_fields(modelled))
        for stage in stages:
            modelled = modelled.with_columns(**stage)
        # A pattern whose sampled keys were partly missing: the reply on a missing key too.
        missed = modelled.with_columns(_none=pl.lit(True))
        # Only the rules some combination reaches: a short chain is a fast one.
        hits = [
            a or b
            for a, b in zip(
                self._hits(modelled, rule_list),
                self._hits(missed.filter(pl.col("_miss") > 0), rule_list),
                strict=True,
            )
        ]
        bytes_, conf = chain([rule for rule, hit in zip(rule_list, hits, strict=True) if hit])
        on_missing = missed.with_columns(_b_none=bytes_).select("_b_none")
        modelled = pl.concat([modelled, on_missing], how="horizontal")
        miss = pl.col("_miss").fill_null(0.0)
        mixed = (
            pl.when((pl.col("_src") == "pattern") & (miss > 0) & pl.col("_b_none").is_not_null())
            .then((1 - miss) * bytes_ + miss * pl.col("_b_none"))
            .otherwise(bytes_)
        )
        client = pl.col("_client")
        return modelled.select(
            *combos.columns,
            reply_bytes=pl.when(client)
            .then(mixed.round(0).cast(pl.Int64))
            .otherwise(pl.lit(0, pl.Int64)),
            reply_confidence=pl.when(~client)
            .then(pl.lit("none"))
            .when(mixed.is_null())
            .then(pl.lit("unknown"))
            .otherwise(conf),
        )

    def _hash_fields(self, combos: pl.DataFrame) -> dict[str, pl.Expr]:
        """`_hval`, the value bytes of the fields an HGET/HMGET asks for that its hash's sample
        showed, and `_hmiss`, how many it asks for that the sample did not show: null unless
        the sample saw every field of the hash (`KeySize.fields`)."""
        if "_hfields" not in combos.columns:
            return {"_hval": pl.lit(None, pl.Int64), "_hmiss": pl.lit(None, pl.Int64)}
        sz = pl.col("_sz")
        hashed = sz.is_in(self.hash_rows.implode()) & pl.col("_hfields").is_not_null()
        row = sz.cast(pl.String)
        pairs = pl.concat_str(
            row,
            pl.lit("\x00"),
            pl.col("_hfields")
            .str.split("\x01")
            .list.join(pl.concat_str(pl.lit("\x01"), row, pl.lit("\x00"))),
        ).str.split("\x01")
        found = pl.when(hashed).then(
            pairs.list.eval(
                pl.element().replace_strict(
                    self.field_keys, self.field_bytes, default=None, return_dtype=pl.Int64
                )
            )
        )
        return {
            "_hval": found.list.sum(),
            "_hmiss": found.list.eval(pl.element().is_null()).list.sum().cast(pl.Int64),
        }

    @staticmethod
    def _hits(frame: pl.DataFrame, rule_list: list[Any]) -> tuple[bool, ...]:
        """Per rule, whether some row of `frame` reaches its condition."""
        if not frame.height:
            return (False,) * len(rule_list)
        return frame.select(
            [cond.fill_null(False).any().alias(str(i)) for i, (cond, _, _) in enumerate(rule_list)]
        ).row(0)


# Range bounds that reach the end whatever the values (ZRANGEBYSCORE/BYLEX, XRANGE).
INFINITE = ["-inf", "+inf", "-", "+", "-INF", "+INF", "inf", "INF"]
_BY_VALUE = [
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "xrange",
    "xrevrange",
]


def _bound(arg: pl.Expr, cmd: pl.Expr) -> pl.Expr:
    """Score/lex/id bounds matter only as "infinite or not", scan cursors not at all: fold them
    so that `ZRANGEBYSCORE k <now-60> <now>` repeats as one combination."""
    return (
        pl.when(cmd.is_in(["hscan", "sscan", "zscan"]))
        .then(pl.lit(None, pl.String))
        .when(cmd.is_in(_BY_VALUE) & ~arg.is_in(INFINITE))
        .then(pl.lit("?"))
        .otherwise(arg)
    )


def _field_frame(sizes: pl.DataFrame) -> pl.DataFrame:
    """The hashes whose sample saw every field: key_name, fields (a key sampled on several nodes
    takes its first node's)."""
    if "fields" not in sizes.columns:
        return pl.DataFrame(schema={"key_name": pl.String(), "fields": _FIELDS})
    return (
        sizes.filter(pl.col("fields").is_not_null() & (pl.col("type") == "hash"))
        .sort(["key_name", "node"])
        .unique("key_name", keep="first")
        .sort("key_name")
        .select("key_name", "fields")
    )


def _field_map(full: pl.DataFrame, key_names: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
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


def _string_map(keys: pl.DataFrame, resp: int) -> dict[str, int]:
    """key_name -> RESP bytes of GET on it (strings and missing keys), for MGET's per-key sum."""
    rows = keys.filter(pl.col("type").is_in(["string", "none"]))
    out: dict[str, int] = {}
    for key, typ, card in rows.select("key_name", "type", "card").iter_rows():
        length = round(card or 0)
        out[key] = (RESP3_NULL if resp == 3 else NULL) if typ == "none" else bulk(length)
    return out
