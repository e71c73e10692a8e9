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
assumed to exist, at the average value size (the field set at each read's time, replayed
through the window's hash writes: analyze/estimate/hash_fields.py). Known approximations: a
range is assumed to exist as sampled; BYSCORE/BYLEX with LIMIT assume the range
holds `count` elements; commands queued in MULTI are costed as if run alone (their `+QUEUED`
replies and EXEC's header are not counted: EXEC is `unknown`).

How it runs: a few vectorized lookups give each row its features (sampled key or pattern, the
arguments that matter); the rules in `hotshard.analyze.estimate.reply_model` are evaluated once per distinct
combination of features and joined back (`hotshard.analyze.rows.make` per chunk, `estimate` for any frame).
No Python per row.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate.reply_kinds import ARG_COMMANDS, BY_VALUE, INFINITE
from hotshard.analyze.estimate.reply_model import chain, rules, unescaped_len
from hotshard.analyze.estimate.sampled_sizes import (
    METRICS,
    SIZES_SCHEMA,
    field_frame,
    field_map,
    pattern_sizes,
    string_map,
)
from hotshard.analyze.sparse import only_rows

_HASH_READS = ["hget", "hmget"]


# -- the estimate ---------------------------------------------------------------------------------
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
        full = field_frame(sizes)
        self.full_fields = full  # the hashes whose sample saw every field (hash_fields.py)
        sizes = sizes.select(list(SIZES_SCHEMA)).cast(SIZES_SCHEMA)  # type: ignore[arg-type]
        # A key sampled on several nodes (a primary and its replica) is the same data: average.
        keys = (
            sizes.sort(["key_name", "node"])
            .group_by("key_name", maintain_order=True)
            .agg(
                pl.col("type").first(),
                pl.col("encoding").first(),
                *[pl.col(m).cast(pl.Float64).mean() for m in METRICS],
            )
            .sort("key_name")
        )
        pats = pattern_sizes(sizes)
        if not pats.height:
            pats = pl.DataFrame(
                schema={"key_pattern": pl.String(), "type": pl.String()}
                | {m: pl.Float64() for m in METRICS}
                | {"miss": pl.Float64()}
            )
        # Enum casts map a name to its row: elementwise in the streaming engine and built once
        # (a dict given to `replace_strict` is converted again for every batch).
        self.key_enum = pl.Enum(keys["key_name"].to_list())
        self.pattern_enum = pl.Enum(pats["key_pattern"].to_list())
        n_keys = keys.height
        self.n_keys = n_keys
        self.hash_rows, self.field_keys, self.field_bytes = field_map(full, keys["key_name"])
        self.field_names = (
            full.select(pl.col("fields").explode().struct.field("field"))
            .to_series()
            .drop_nulls()
            .unique()
            .sort()
        )
        metric_cols = ["type", "encoding", *METRICS, "miss"]
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
        strings = string_map(keys, resp)
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


def _bound(arg: pl.Expr, cmd: pl.Expr) -> pl.Expr:
    """Score/lex/id bounds matter only as "infinite or not", scan cursors not at all: fold them
    so that `ZRANGEBYSCORE k <now-60> <now>` repeats as one combination."""
    return (
        pl.when(cmd.is_in(["hscan", "sscan", "zscan"]))
        .then(pl.lit(None, pl.String))
        .when(cmd.is_in(BY_VALUE) & ~arg.is_in(INFINITE))
        .then(pl.lit("?"))
        .otherwise(arg)
    )
