"""A chunk's writes of strings as events that size the GETs after them (through_time.py):
the value a write stores unconditionally (its length decoded from MONITOR's escapes, and its
expiry, per row: `value_columns`), a delete, or a write of unknown effect.
"""

from __future__ import annotations

import polars as pl

from hotshard.analyze.estimate import resp_exprs
from hotshard.capture.format import resp

EVENT: dict[str, pl.DataType] = {
    "ts": pl.Float64(),
    "db": pl.Int32(),
    "key_name": pl.String(),
    "_seq": pl.Int64(),
    "_bulk": pl.Int64(),
    "_value_expires": pl.Float64(),  # when the value written expires (SET ... EX/PXAT, SETEX)
}
KIND = "_kind"  # 0 unknown, 1 sized by the write (`_bulk`), 2 missing
# `*3\r\n` + `$3\r\nSET\r\n` (13 bytes) / `$6\r\nGETSET\r\n` (16)
_HEADER = {c: resp.array_header(3) + resp.bulk(len(c)) for c in ("set", "getset")}
DELETES = ("del", "unlink", "getdel")


# Per row, from its arguments: the decoded length of the value a SET/GETSET/SETEX/PSETEX stores
# unconditionally, and when that value expires (absolute: PXAT/EXAT; relative to the line's
# time: EX/PX/SETEX/PSETEX). Transient: `Strings.apply` drops them. The row path takes them from
# the native core (analyze/native/src/values.rs `Values`); `value_columns` is the reference that
# tests/read/test_scanner.py holds the core to.
VALUE_COLUMNS = ("_value_len", "_exp_abs", "_exp_rel")
_ESCAPE = r"\\(?:x[0-9a-fA-F]{2}|.)"
_CONDITIONAL = ["NX", "XX", "IFEQ"]  # the value may not be stored


def value_columns() -> dict[str, pl.Expr]:
    """`VALUE_COLUMNS` over a frame with `command`, `args` (as quoted, key first) and
    `arg_count`."""
    cmd, args, n = pl.col("command"), pl.col("args"), pl.col("arg_count")
    opts = args.list.slice(2).list.eval(pl.element().str.to_uppercase())
    conditional = opts.list.eval(pl.element().is_in(_CONDITIONAL)).list.any()

    def after(name: str) -> pl.Expr:  # the number after option `name`, as seconds
        at = opts.list.eval(pl.element() == name).list.arg_max()
        has = opts.list.contains(name)
        return pl.when(has).then(
            opts.list.get(at + 1, null_on_oob=True).cast(pl.Float64, strict=False)
        )

    setting = (cmd == "set") & (n >= 2) & ~conditional.fill_null(False)
    value = (
        pl.when(setting | ((cmd == "getset") & (n == 2)))
        .then(args.list.get(1, null_on_oob=True))
        .when(cmd.is_in(["setex", "psetex"]) & (n == 3))
        .then(args.list.get(2, null_on_oob=True))
    )
    third = args.list.get(1, null_on_oob=True).cast(pl.Float64, strict=False)
    rel = (
        pl.when(cmd == "setex")
        .then(third)
        .when(cmd == "psetex")
        .then(third / 1000)
        .when(setting)
        .then(pl.coalesce(after("EX"), after("PX") / 1000))
    )
    return {
        "_value_len": value.str.replace_all(_ESCAPE, "_").str.len_bytes().cast(pl.Int64),
        "_exp_abs": pl.when(setting).then(pl.coalesce(after("EXAT"), after("PXAT") / 1000)),
        "_exp_rel": rel,
    }


def events(rows: pl.DataFrame, commands: list[str]) -> pl.DataFrame:
    """A chunk's writes (`rows` with `_seq` and `VALUE_COLUMNS`; `commands`: the writes) as
    events of one key each (`EVENT` and `KIND`): sized by the value written, missing, or of
    unknown size."""
    writes = rows.filter(pl.col("command").is_in(commands))
    single = writes.filter(pl.col("keys").is_null() & pl.col("key_name").is_not_null())
    # the value's bulk string, exactly what a later GET answers; rows without the value's
    # length (frames built by hand) take it from a plain `SET k v`'s request size
    by_request = (
        pl.col("command").is_in(list(_HEADER))
        & (pl.col("arg_count") == 2)
        & ~pl.col("key_name").str.contains("\\", literal=True)  # escaped: length unknown
    )
    header = pl.col("command").replace_strict(_HEADER, default=0, return_dtype=pl.Int64)
    key_bulk = resp_exprs.bulk(pl.col("key_name").str.len_bytes().cast(pl.Int64))
    plain = pl.col("_value_len").is_not_null() | by_request
    kind = (
        pl.when(pl.col("command").is_in(DELETES))
        .then(2)
        .when(plain)
        .then(1)
        .otherwise(0)
        .cast(pl.Int8)
    )
    first = single.select(
        "ts",
        "db",
        "key_name",
        "_seq",
        _bulk=pl.when(plain).then(
            pl.coalesce(
                resp_exprs.bulk(pl.col("_value_len")),
                pl.col("request_bytes") - header - key_bulk,
            )
        ),
        _value_expires=pl.when(plain).then(
            pl.coalesce(pl.col("_exp_abs"), pl.col("ts") + pl.col("_exp_rel"))
        ),
        **{KIND: kind},
    )
    multi = (
        writes.filter(pl.col("keys").is_not_null())
        .select(
            "ts",
            "db",
            "_seq",
            key_name=pl.col("keys"),
            **{KIND: pl.when(pl.col("command").is_in(DELETES)).then(2).otherwise(0)},
        )
        .explode("key_name")
        .select(
            "ts",
            "db",
            "key_name",
            "_seq",
            pl.lit(None, pl.Int64).alias("_bulk"),
            pl.lit(None, pl.Float64).alias("_value_expires"),
            pl.col(KIND).cast(pl.Int8),
        )
    )
    return pl.concat(
        [first.cast({**EVENT, KIND: pl.Int8()}), multi.cast({**EVENT, KIND: pl.Int8()})]  # type: ignore[dict-item]
    )
