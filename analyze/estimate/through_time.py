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

GETSET, GETDEL and GETEX answer the value before them: they are sized like a GET, by the
events strictly before them.

A GET with no write of its key seen before it, given the source's first writes
(string_writes.py, read before its rows), is sized by the in-window sample when that was taken
before the key's first write (`sampled-during`), else — when the key is written later — by the
pattern's strings its shard never wrote (`pattern`), never by the after-window (post-change)
size. Without the first writes, it is sized by the in-window sample
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

from hotshard.analyze.estimate import string_events
from hotshard.analyze.estimate.replication import FLUSHES, WRITE_COMMANDS, naming
from hotshard.analyze.estimate.string_events import DELETES, EVENT, KIND, VALUE_COLUMNS
from hotshard.analyze.estimate.string_writes import FirstWrites
from hotshard.analyze.keys import patterns, quoted
from hotshard.analyze.read import parse
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize

# Reads sized like GET: the value before them (GETSET, GETDEL and GETEX are writes too).
_READS = (
    (pl.col("command").is_in(["get", "getdel"]) & (pl.col("arg_count") == 1))
    | ((pl.col("command") == "getset") & (pl.col("arg_count") == 2))
    | ((pl.col("command") == "getex") & (pl.col("arg_count") >= 1))
)
_WRITING_READS = ["getset", "getdel", "getex"]


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
        self,
        writes: frozenset[str] = WRITE_COMMANDS,
        start: pl.DataFrame | None = None,
        first: FirstWrites | None = None,
        siblings: pl.DataFrame | None = None,
        rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES,
    ) -> None:
        self.start = start
        # the source's first write of each key (string_writes.py), and by pattern the mean
        # reply of its strings the window did not change: for reads before a key's first write
        self.first = first
        self.siblings = siblings if siblings is not None and siblings.height else None
        self.rules = rules  # the analysis' pattern rules (the siblings' patterns)
        self.writes = sorted(writes | set(DELETES))
        self.seq = 0
        self.flushed = -1  # sequence of the last FLUSHALL/FLUSHDB seen
        self.last = pl.DataFrame(schema={**EVENT, KIND: pl.Int8()})

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
        flushes = df.filter(pl.col("command").is_in(FLUSHES))["_seq"].to_list()
        fresh = string_events.events(df, self.writes)
        flushed, self.flushed = self.flushed, max([self.flushed, *flushes])
        reads = df.filter(_READS & pl.col("key_name").is_not_null()).select(
            "ts", "db", "key_name", "command", "_seq"
        )
        # Each key's last write so far, then this chunk's: only the keys this chunk reads are
        # looked at (the state holds every key written, and grows with them).
        on = ["db", "key_name"]
        earlier = self.last.join(reads.select(on).unique(), on=on, how="semi")
        events = pl.concat([earlier, fresh]).sort("_seq")
        if fresh.height:  # a key's event of this chunk is later than any before (`_seq`)
            latest = fresh.group_by(on).agg(pl.all().sort_by("_seq").last())
            kept = self.last.join(latest.select(on), on=on, how="anti", nulls_equal=True)
            self.last = pl.concat([kept, latest.select(self.last.columns)])
        if not events.height and self.start is None and self.first is None:
            return rows
        if not reads.height:
            return rows
        # the last FLUSH before each read: a write before it is not the value any more
        last_flush = pl.lit(flushed, pl.Int64)
        for f in flushes:
            last_flush = pl.when(pl.col("_seq") > f).then(pl.lit(f, pl.Int64)).otherwise(last_flush)
        # the events strictly before each read (GETSET/GETDEL/GETEX are events themselves)
        joined = (
            reads.with_columns(_prior=pl.col("_seq") - 1)
            .join_asof(
                events.drop("ts").rename({"_seq": "_event_seq"}),
                left_on="_prior",
                right_on="_event_seq",
                by=["db", "key_name"],
                strategy="backward",
                check_sortedness=False,
            )
            .with_columns(_flush=last_flush)
        )
        gone = (pl.col(KIND) == 2) | (pl.col("ts") >= pl.col("_value_expires")).fill_null(False)
        sized = joined.filter(
            pl.col(KIND).is_in([1, 2]) & (pl.col("_event_seq") > pl.col("_flush"))
        ).select(
            index=pl.col("_seq") - start,
            size=pl.when(gone).then(resp.NULL).otherwise(pl.col("_bulk")),
            confidence=pl.lit("exact"),
        )
        unwritten = joined.filter(
            pl.col("_event_seq").is_null() & (pl.col("_flush") < 0) & (pl.col("db") == 0)
        )
        if self.first is not None:
            sized = pl.concat(
                [sized, self._before_first_write(unwritten, fresh, df, flushes, start)]
            )
        elif self.start is not None:
            sized = pl.concat([sized, self._from_start(unwritten, fresh, df, bool(flushes), start)])
        return resized(rows, sized["index"], sized["size"], sized["confidence"])

    def _before_first_write(
        self,
        unwritten: pl.DataFrame,
        fresh: pl.DataFrame,
        df: pl.DataFrame,
        flushes: list[int],
        start: int,
    ) -> pl.DataFrame:
        """The reads of no write seen so far, with the source's first writes known
        (`self.first`): a read before its key's first write (and the first FLUSH) is sized by
        the in-window sample when that was taken before the write, else — the key changes
        later — by the pattern's unchanged strings (`pattern`), never by the after-window
        size. A read past a write the rows did not show (a sub-window) is sized as before."""
        assert self.first is not None
        first = self.first
        fw = pl.col("_fw")
        if first.flush is not None:
            fw = pl.min_horizontal(fw, pl.lit(first.flush, pl.Float64))
        # The first writes of the keys read here only: the left join then hashes those, not
        # every key the source writes (a transient of tens of MiB a chunk on unique keys).
        on = ["db", "key_name"]
        read = first.keys.join(unwritten.select(on).unique(), on=on, how="semi")
        placed = unwritten.join(read, on=on, how="left").with_columns(_fw=fw)
        # A GETSET/GETDEL/GETEX that is its key's first write read the value before it.
        ahead = (
            pl.col("_fw").is_null()
            | (pl.col("_fw") > pl.col("ts"))
            | ((pl.col("_fw") == pl.col("ts")) & pl.col("command").is_in(_WRITING_READS))
        )
        parts = []
        if self.start is not None:
            past = placed.filter(~ahead).drop("_fw")
            parts.append(self._from_start(past, fresh, df, bool(flushes), start))
        clean = placed.filter(ahead)
        sampled = None
        if self.start is not None:
            expired = (pl.col("ts") >= pl.col("_expires")).fill_null(False)
            sampled = (
                clean.join(self.start, on="key_name", how="inner")
                .filter(pl.col("_fw").is_null() | (pl.col("_sampled_at") < pl.col("_fw")))
                .select(
                    "_seq",
                    index=pl.col("_seq") - start,
                    size=pl.when(expired).then(resp.NULL).otherwise(pl.col("_start_bytes")),
                    confidence=pl.when(expired)
                    .then(pl.lit("exact"))
                    .otherwise(pl.lit("sampled-during")),
                )
            )
            parts.append(sampled.drop("_seq"))
        if self.siblings is not None:
            changed = clean.filter(pl.col("_fw").is_not_null())
            if sampled is not None:
                changed = changed.join(sampled.select("_seq"), on="_seq", how="anti")
            changed = patterns.add_pattern(changed.lazy(), "key_name", self.rules).collect()
            parts.append(
                changed.join(self.siblings, on="key_pattern", how="inner").select(
                    index=pl.col("_seq") - start,
                    size=pl.col("_sib").round(0).cast(pl.Int64),
                    confidence=pl.lit("pattern"),
                )
            )
        schema = {"index": pl.Int64(), "size": pl.Int64(), "confidence": pl.String()}
        return pl.concat([pl.DataFrame(schema=schema), *(p.cast(schema) for p in parts)])  # type: ignore[arg-type]

    def _from_start(
        self,
        joined: pl.DataFrame,
        fresh: pl.DataFrame,
        df: pl.DataFrame,
        flushed_here: bool,
        start: int,
    ) -> pl.DataFrame:
        """Of `joined`, the reads of no write (nor FLUSH) seen so far, of db 0 (what the
        sampler reads), those the in-window sample sizes (`index`, `size`, `confidence`): no
        write of the key (nor FLUSH) between the read and the key's measurement — without the
        source's first writes (`self.first`), a read before the sample needs the rest of the
        chunk to reach the sample's time, or it keeps the after-window size."""
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
            joined.join(self.start, on="key_name", how="inner")
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
    needles = naming(early["key_name"])
    writes = sorted({*WRITE_COMMANDS, *DELETES, *FLUSHES})
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
    args = quoted.arguments(pl.col("body"))
    lines = pl.concat(found).select(
        "ts", command=args.list.first().str.to_lowercase(), _args=args.list.slice(1)
    )
    flushes = lines.filter(pl.col("command").is_in(FLUSHES))["ts"]
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
