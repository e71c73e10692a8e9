"""String sizes through the window: a GET after a write MONITOR showed is sized by that write.

Key sizes are sampled after the window, so a value rewritten during it would be sized in its
final state for every read (issue 11). MONITOR carries every write's value: after a write that
stores a value unconditionally — `SET k v` with any options but NX/XX/IFEQ (a replica sees
`SET k v PXAT ms` for `SET k v EX n`), `GETSET`, `SETEX`, `PSETEX` — a later GET answers that
value's bulk string (its length decoded from the escapes MONITOR prints), or a null reply once
the expiry the write set has passed. A `DEL`/`UNLINK`/`GETDEL` of the key makes the GET a null
reply (`$-1`, 5 bytes). Any other write naming the key (SET NX, APPEND, INCR, EXPIRE, MSET,
RENAME...) and any FLUSHALL/FLUSHDB make its size unknown again: those GETs keep the sampled
estimate.

Per source, in file order (the order the server ran the commands): an as-of join of the GETs on
the last write event per (db, key) by row sequence, with the last event per key carried from one
chunk to the next (`Strings` holds them).

A GET with no write of its key seen before it is sized by the in-window sample
(capture/window_sample.py, `StartSizes`; `sampled-during`) when the capture took one: the key's
STRLEN, or a null reply when it did not exist, provided no write of the key (nor a FLUSH) came
between the read and the moment it was measured; otherwise, and for captures with one sample, by
the after-window one.
A read past the TTL the sample saw, with no write of the key since, is a null reply (`exact`).
A sub-window (`--since`) does not read the lines before it: a key measured before `since` and
written between that measurement and `since` is not sized by the measurement (`cleared` reads
those lines for the writes of such keys only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from hotshard.analyze.estimate import resp_exprs
from hotshard.analyze.estimate.replication import WRITE_COMMANDS
from hotshard.analyze.read import parse
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize

_EVENT: dict[str, pl.DataType] = {
    "ts": pl.Float64(),
    "db": pl.Int32(),
    "key_name": pl.String(),
    "_seq": pl.Int64(),
    "_bulk": pl.Int64(),
    "_value_expires": pl.Float64(),  # when the value written expires (SET ... EX/PXAT, SETEX)
}
_KIND = "_kind"  # 0 unknown, 1 sized by the write (`_bulk`), 2 missing
# `*3\r\n` + `$3\r\nSET\r\n` (13 bytes) / `$6\r\nGETSET\r\n` (16)
_HEADER = {c: resp.array_header(3) + resp.bulk(len(c)) for c in ("set", "getset")}
_DELETES = ("del", "unlink", "getdel")
_FLUSHES = ("flushall", "flushdb")


_START: dict[str, pl.DataType] = {
    "key_name": pl.String(),
    "_start_bytes": pl.Int64(),
    "_sampled_at": pl.Float64(),
    "_expires": pl.Float64(),  # when its TTL then ran out
}


def shard_mates(node: str, nodes: Iterable[str], shards: Mapping[str, str]) -> list[str]:
    """`node`, then the other nodes of its shard (they hold the same keys), by name."""
    shard = shards.get(node)
    mates = sorted(n for n in nodes if n != node and shard is not None and shards.get(n) == shard)
    return [node, *mates]


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


class StartSizes:
    """The in-window sample's string sizes, per node: GET's reply bytes and when. A node
    whose own sample missed a key takes another node of its shard's (`shards`: node -> shard):
    each ranks the keys of its own first seconds, and a replica serves a share of the reads."""

    def __init__(self, sizes: Sequence[KeySize], shards: Mapping[str, str] | None = None) -> None:
        self.shards = dict(shards or {})
        rows: dict[str, list[tuple[str, int, float, float | None]]] = {}
        for s in sizes:
            if s.error or s.sampled_at is None:
                continue
            if s.type == "string" and s.cardinality is not None:
                reply = resp.bulk(s.cardinality)
            elif s.type == "none":
                reply = resp.NULL
            else:
                continue
            expires = s.sampled_at + s.ttl_ms / 1000 if s.ttl_ms is not None else None
            rows.setdefault(s.node, []).append((s.key, reply, s.sampled_at, expires))
        self.by_node = {
            node: pl.DataFrame(r, schema=_START, orient="row").unique("key_name", keep="first")
            for node, r in sorted(rows.items())
        }

    def of(self, node: str) -> pl.DataFrame | None:
        frames = [
            self.by_node[n]
            for n in shard_mates(node, self.by_node, self.shards)
            if n in self.by_node
        ]
        if not frames:
            return None
        return pl.concat(frames).unique("key_name", keep="first", maintain_order=True)


class Strings:
    """The last write event per key of one source, carried across its chunks; `start`: the
    in-window sizes of its node (`StartSizes.of`)."""

    def __init__(
        self, writes: frozenset[str] = WRITE_COMMANDS, start: pl.DataFrame | None = None
    ) -> None:
        self.start = start
        self.writes = sorted(writes | set(_DELETES))
        self.seq = 0
        self.flushed = -1  # sequence of the last FLUSHALL/FLUSHDB seen
        self.last = pl.DataFrame(schema={**_EVENT, _KIND: pl.Int8()})

    def _events(self, rows: pl.DataFrame) -> pl.DataFrame:
        writes = rows.filter(pl.col("command").is_in(self.writes))
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
            pl.when(pl.col("command").is_in(_DELETES))
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
            **{_KIND: kind},
        )
        multi = (
            writes.filter(pl.col("keys").is_not_null())
            .select(
                "ts",
                "db",
                "_seq",
                key_name=pl.col("keys"),
                **{_KIND: pl.when(pl.col("command").is_in(_DELETES)).then(2).otherwise(0)},
            )
            .explode("key_name")
            .select(
                "ts",
                "db",
                "key_name",
                "_seq",
                pl.lit(None, pl.Int64).alias("_bulk"),
                pl.lit(None, pl.Float64).alias("_value_expires"),
                pl.col(_KIND).cast(pl.Int8),
            )
        )
        return pl.concat(
            [first.cast({**_EVENT, _KIND: pl.Int8()}), multi.cast({**_EVENT, _KIND: pl.Int8()})]  # type: ignore[dict-item]
        )

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` (one chunk of this source, file order) with its GETs re-sized."""
        n, start = rows.height, self.seq
        values = [c for c in VALUE_COLUMNS if c in rows.columns]
        if len(values) < len(VALUE_COLUMNS):  # frames built without them: no value known
            rows = rows.with_columns(
                _value_len=pl.lit(None, pl.Int64),
                _exp_abs=pl.lit(None, pl.Float64),
                _exp_rel=pl.lit(None, pl.Float64),
            )
        df = rows.select(
            "ts",
            "db",
            "key_name",
            "command",
            "arg_count",
            "keys",
            "request_bytes",
            *VALUE_COLUMNS,
            pl.int_range(start, start + n, dtype=pl.Int64).alias("_seq"),
        )
        rows = rows.drop(VALUE_COLUMNS)
        if not n:
            return rows
        self.seq += n
        flushes = df.filter(pl.col("command").is_in(_FLUSHES))["_seq"].to_list()
        fresh = self._events(df)
        flushed, self.flushed = self.flushed, max([self.flushed, *flushes])
        reads = df.filter(
            (pl.col("command") == "get")
            & (pl.col("arg_count") == 1)
            & pl.col("key_name").is_not_null()
        ).select("ts", "db", "key_name", "_seq")
        # Each key's last write so far, then this chunk's: only the keys this chunk reads are
        # looked at (the state holds every key written, and grows with them).
        on = ["db", "key_name"]
        earlier = self.last.join(reads.select(on).unique(), on=on, how="semi")
        events = pl.concat([earlier, fresh]).sort("_seq")
        if fresh.height:  # a key's event of this chunk is later than any before (`_seq`)
            latest = fresh.group_by(on).agg(pl.all().sort_by("_seq").last())
            kept = self.last.join(latest.select(on), on=on, how="anti", nulls_equal=True)
            self.last = pl.concat([kept, latest.select(self.last.columns)])
        if not events.height and self.start is None:
            return rows
        if not reads.height:
            return rows
        # the last FLUSH before each read: a write before it is not the value any more
        last_flush = pl.lit(flushed, pl.Int64)
        for f in flushes:
            last_flush = pl.when(pl.col("_seq") > f).then(pl.lit(f, pl.Int64)).otherwise(last_flush)
        joined = reads.join_asof(
            events.drop("ts").rename({"_seq": "_event_seq"}),
            left_on="_seq",
            right_on="_event_seq",
            by=["db", "key_name"],
            strategy="backward",
            check_sortedness=False,
        ).with_columns(_flush=last_flush)
        gone = (pl.col(_KIND) == 2) | (pl.col("ts") >= pl.col("_value_expires")).fill_null(False)
        sized = joined.filter(
            pl.col(_KIND).is_in([1, 2]) & (pl.col("_event_seq") > pl.col("_flush"))
        ).select(
            index=pl.col("_seq") - start,
            size=pl.when(gone).then(resp.NULL).otherwise(pl.col("_bulk")),
            confidence=pl.lit("exact"),
        )
        if self.start is not None:
            sized = pl.concat([sized, self._from_start(joined, fresh, df, bool(flushes), start)])
        return resized(rows, sized["index"], sized["size"], sized["confidence"])

    def _from_start(
        self,
        joined: pl.DataFrame,
        fresh: pl.DataFrame,
        df: pl.DataFrame,
        flushed_here: bool,
        start: int,
    ) -> pl.DataFrame:
        """The reads of no write seen so far that the in-window sample sizes (`index`, `size`,
        `confidence`): db 0 (what the sampler reads), no FLUSH before, and no write of the key
        (nor FLUSH) between the read and the key's measurement — a read before the sample needs
        the rest of the chunk to reach the sample's time, or it keeps the after-window size."""
        assert self.start is not None
        first_write = fresh.group_by("db", "key_name").agg(_first_write=pl.col("ts").min())
        chunk_end = df["ts"].max()
        before = pl.col("ts") < pl.col("_sampled_at")
        expired = (pl.col("ts") >= pl.col("_expires")).fill_null(False)
        clear_until_sample = (
            (pl.col("_first_write").is_null() | (pl.col("_first_write") > pl.col("_sampled_at")))
            & (pl.lit(chunk_end, pl.Float64) >= pl.col("_sampled_at"))
            & pl.lit(not flushed_here)
        )
        return (
            joined.filter(
                pl.col("_event_seq").is_null() & (pl.col("_flush") < 0) & (pl.col("db") == 0)
            )
            .join(self.start, on="key_name", how="inner")
            .join(first_write, on=["db", "key_name"], how="left")
            .filter(~before | clear_until_sample)
            .select(
                index=pl.col("_seq") - start,
                # no write since the sample: past its TTL the key is gone (a null reply)
                size=pl.when(expired).then(resp.NULL).otherwise(pl.col("_start_bytes")),
                confidence=pl.when(expired)
                .then(pl.lit("exact"))
                .otherwise(pl.lit("sampled-during")),
            )
        )


def cleared(start: pl.DataFrame, source: parse.Source, since: float) -> pl.DataFrame:
    """`start` (`StartSizes.of`) for an analysis from `since` on (`--since`): without the keys
    measured before `since` that a write (or a FLUSH) named between their measurement and
    `since` — lines the sub-window does not read, so `Strings` cannot see them, and such a
    measurement is not the value its reads after `since` got. Only the lines before `since`
    that name one of those keys are parsed."""
    early = start.filter(pl.col("_sampled_at") < since)
    if not early.height:
        return start
    needles = [f'"{k}"' for k in early["key_name"]] + ['"flushall"', '"flushdb"']
    writes = sorted({*WRITE_COMMANDS, *_DELETES, *_FLUSHES})
    found = []
    for block in parse.line_chunks(parse.open_source(source), parse.CHUNK_BYTES):
        heads = parse.header_rows(block)
        if heads.height and heads.select(pl.col("ts").min() >= since).item():
            break
        hits = heads.filter(
            (pl.col("ts") < since)
            & pl.col("body").str.contains_any(needles, ascii_case_insensitive=True)
        )
        if hits.height:
            found.append(hits)
    if not found:
        return start
    args = pl.col("body").str.strip_prefix('"').str.strip_suffix('"').str.split('" "')
    lines = pl.concat(found).select(
        "ts", command=args.list.first().str.to_lowercase(), _args=args.list.slice(1)
    )
    flushes = lines.filter(pl.col("command").is_in(_FLUSHES))["ts"]
    named = (
        lines.filter(pl.col("command").is_in(writes))
        .explode("_args")
        .select("ts", key_name="_args")
        .join(early.select("key_name", "_sampled_at"), on="key_name")
        .filter(pl.col("ts") > pl.col("_sampled_at"))
    )
    stale = set(named["key_name"])
    if flushes.len():
        last_flush = flushes.max()
        stale |= set(early.filter(pl.col("_sampled_at") < last_flush)["key_name"])
    return start.filter(~pl.col("key_name").is_in(sorted(stale)))


def resized(
    rows: pl.DataFrame, index: pl.Series, size: pl.Series, confidence: pl.Series
) -> pl.DataFrame:
    """`rows` with the reply of the rows at `index` (positions) sized anew."""
    if not index.len():
        return rows
    return rows.with_columns(
        rows["reply_bytes"].scatter(index, size),
        rows["reply_confidence"].scatter(index, confidence),
    )
