"""String sizes through the window: a GET after a write MONITOR showed is sized by that write.

Key sizes are sampled after the window, so a value rewritten during it would be sized in its
final state for every read (issue 11). MONITOR carries every write's value, and for the two
writes that replace a value unconditionally with nothing else on the line the reply of a later
GET follows from the request sizes alone: `SET k v` is `*3 $3 SET <k> <v>` on the wire, so the
value's bulk string — exactly what `GET k` answers — is `request_bytes - 13 - bulk(k)`
(`GETSET`: 16). A `DEL`/`UNLINK`/`GETDEL` of the key makes the GET a null reply (`$-1`, 5 bytes).
Any other write naming the key (SET with options, APPEND, INCR, EXPIRE, MSET, RENAME...) and any
FLUSHALL/FLUSHDB make its size unknown again: those GETs keep the sampled estimate.

Per source, in file order (the order the server ran the commands): an as-of join of the GETs on
the last write event per (db, key) by row sequence, with the last event per key carried from one
chunk to the next (`Strings` holds them).
"""

from __future__ import annotations

import polars as pl

from analyze.replies import WRITE_COMMANDS

_EVENT: dict[str, pl.DataType] = {
    "db": pl.Int32(),
    "key_name": pl.String(),
    "_seq": pl.Int64(),
    "_bulk": pl.Int64(),
}
_KIND = "_kind"  # 0 unknown, 1 sized by the write (`_bulk`), 2 missing
NULL_BULK = 5  # `$-1\r\n`
_HEADER = {"set": 13, "getset": 16}  # `*3\r\n` + `$3\r\nSET\r\n` / `$6\r\nGETSET\r\n`
_DELETES = ("del", "unlink", "getdel")
_FLUSHES = ("flushall", "flushdb")


def _bulk(length: pl.Expr) -> pl.Expr:
    return length + length.cast(pl.String).str.len_bytes().cast(pl.Int64) + 5


class Strings:
    """The last write event per key of one source, carried across its chunks."""

    def __init__(self, writes: frozenset[str] = WRITE_COMMANDS) -> None:
        self.writes = sorted(writes | set(_DELETES))
        self.seq = 0
        self.flushed = -1  # sequence of the last FLUSHALL/FLUSHDB seen
        self.last = pl.DataFrame(schema={**_EVENT, _KIND: pl.Int8()})

    def _events(self, rows: pl.DataFrame) -> pl.DataFrame:
        writes = rows.filter(pl.col("command").is_in(self.writes))
        single = writes.filter(pl.col("keys").is_null() & pl.col("key_name").is_not_null())
        plain = (
            pl.col("command").is_in(list(_HEADER))
            & (pl.col("arg_count") == 2)
            & ~pl.col("key_name").str.contains("\\", literal=True)  # escaped: length unknown
        )
        header = pl.col("command").replace_strict(_HEADER, default=0, return_dtype=pl.Int64)
        key_bulk = _bulk(pl.col("key_name").str.len_bytes().cast(pl.Int64))
        kind = (
            pl.when(pl.col("command").is_in(_DELETES))
            .then(2)
            .when(plain)
            .then(1)
            .otherwise(0)
            .cast(pl.Int8)
        )
        first = single.select(
            "db",
            "key_name",
            "_seq",
            _bulk=pl.when(plain).then(pl.col("request_bytes") - header - key_bulk),
            **{_KIND: kind},
        )
        multi = (
            writes.filter(pl.col("keys").is_not_null())
            .select(
                "db",
                "_seq",
                key_name=pl.col("keys"),
                **{_KIND: pl.when(pl.col("command").is_in(_DELETES)).then(2).otherwise(0)},
            )
            .explode("key_name")
            .select(
                "db",
                "key_name",
                "_seq",
                pl.lit(None, pl.Int64).alias("_bulk"),
                pl.col(_KIND).cast(pl.Int8),
            )
        )
        return pl.concat(
            [first.cast({**_EVENT, _KIND: pl.Int8()}), multi.cast({**_EVENT, _KIND: pl.Int8()})]  # type: ignore[dict-item]
        )

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` (one chunk of this source, file order) with its GETs re-sized."""
        n, start = rows.height, self.seq
        if not n:
            return rows
        self.seq += n
        seq = pl.int_range(start, start + n, dtype=pl.Int64).alias("_seq")
        df = rows.select("db", "key_name", "command", "arg_count", "keys", "request_bytes", seq)
        flushes = df.filter(pl.col("command").is_in(_FLUSHES))["_seq"].to_list()
        events = pl.concat([self.last, self._events(df)]).sort("_seq")
        flushed, self.flushed = self.flushed, max([self.flushed, *flushes])
        if not events.height:
            return rows
        self.last = (
            events.group_by("db", "key_name")
            .agg(pl.all().sort_by("_seq").last())
            .select(self.last.columns)
        )
        reads = df.filter(
            (pl.col("command") == "get")
            & (pl.col("arg_count") == 1)
            & pl.col("key_name").is_not_null()
        ).select("db", "key_name", "_seq")
        if not reads.height:
            return rows
        # the last FLUSH before each read: a write before it is not the value any more
        last_flush = pl.lit(flushed, pl.Int64)
        for f in flushes:
            last_flush = pl.when(pl.col("_seq") > f).then(pl.lit(f, pl.Int64)).otherwise(last_flush)
        sized = (
            reads.join_asof(
                events.rename({"_seq": "_event_seq"}),
                left_on="_seq",
                right_on="_event_seq",
                by=["db", "key_name"],
                strategy="backward",
                check_sortedness=False,
            )
            .filter(pl.col(_KIND).is_in([1, 2]) & (pl.col("_event_seq") > last_flush))
            .select(
                index=pl.col("_seq") - start,
                size=pl.when(pl.col(_KIND) == 2).then(NULL_BULK).otherwise(pl.col("_bulk")),
            )
        )
        if not sized.height:
            return rows
        index = sized["index"]
        return rows.with_columns(
            rows["reply_bytes"].scatter(index, sized["size"]),
            rows["reply_confidence"].scatter(index, "exact"),
        )
