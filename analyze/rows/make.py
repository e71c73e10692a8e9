"""The one path from MONITOR lines to the analyzer's rows (`schema.COMMANDS`).

Per chunk of a source's text (`parse.line_chunks`, ~32 MiB), in the native core
(`scanner.scan`, analyze/native/src/scan.rs):

1. lines and header: `ts`, `db`, `client` of every command line, the quoting checked, every line
   counted for the capture's health; the time window is applied to these rows (`keep`);
2. body: cut into command, first key as quoted (commands whose one key is argv 1) and the rest,
   the "tail"; each distinct tail of the chunk split into its arguments, command and request
   size, its keys by the server's key specs and its argument shape once (`keys.find.KeyPlan`).
   Then in Polars, per distinct tail: the reply features;
3. per distinct key, once per analysis: its id, text, bytes, slot, pattern and sampled size
   (`ids.KeyDictionary`), gathered back into the rows by id;
4. per distinct signature: its id (`ids.SignatureDictionary`);
5. the reply estimate, per distinct combination of what a reply depends on (`replies`),
   once per analysis (`combos.Combos`); a script's reply from what its `redis.call`s read
   (`scripts`);
6. sizes through the window: whole reads of collections that changed between the two key-size
   samples placed by the writes around them (`cardinality`), GETs by the writes before them
   (`through_time`);
7. each reply framed in its client's protocol (`protocols`: CLIENT LIST and HELLO lines), the
   replies Valkey logged given their logged bytes (`logged`), and a multi-key reply shared among
   the keys it names (`attribution`).

Stages pass columns by name; the ones that start with `_` are transient and never written. Step
5 runs on Polars' streaming engine (both cores); steps 3-4 on whole columns, in file order, so
that ids are the same for the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.errors import BadInput
from hotshard.analyze.estimate import (
    attribution,
    cardinality,
    hash_fields,
    logged,
    replies,
    sampled_sizes,
    scripts,
    string_writes,
    through_time,
)
from hotshard.analyze.estimate.resp_exprs import length_digits
from hotshard.analyze.keys import find as keys
from hotshard.analyze.keys import keyspecs, patterns, quoted
from hotshard.analyze.read import parse, scanner
from hotshard.analyze.read.prefetch import ahead
from hotshard.analyze.rows import prepass
from hotshard.analyze.rows.combos import Combos
from hotshard.analyze.rows.ids import KeyDictionary, SignatureDictionary
from hotshard.analyze.rows.senders import origin, protocols, resp3_nulls
from hotshard.capture.format import resp
from hotshard.capture.format.manifest import KeySize

Rows = Callable[[pl.LazyFrame], pl.LazyFrame]


@dataclass
class Context:
    """What every chunk of one analysis shares: key specs, pattern rules, sampled sizes, and
    the dictionaries of keys and signatures seen so far."""

    key_plan: keys.KeyPlan
    lookup: replies.Lookup
    keys: KeyDictionary
    signatures: SignatureDictionary
    combos: Combos  # the reply combinations seen so far, with their replies
    parser: scanner.Parser  # the native core, told which commands take the fast path
    start: through_time.StartSizes | None = None  # key sizes at the start of the window
    brackets: cardinality.Brackets | None = None  # collections sampled at both ends
    siblings: string_writes.Siblings | None = None  # sampled strings, for reads before a rewrite
    # node -> client address -> protocol, for connections CLIENT LIST showed not on RESP2
    protocols: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # node -> its COMMANDLOG large-reply entries from the window (analyze/estimate/logged.py)
    logged: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    since: float | None = None  # --since: the in-window sizes are checked against the lines before
    # the hash fields' value lengths the in-window sample saw (analyze/estimate/hash_fields.py)
    start_fields: pl.DataFrame | None = None
    start_sets: pl.DataFrame | None = None  # and the whole field sets it saw, at their time

    @classmethod
    def create(
        cls,
        commands_reply: list[Any] | None = None,
        rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES,
        key_sizes: Sequence[KeySize] = (),
        resp: int = 2,
        start_sizes: Sequence[KeySize] = (),
        shards: Mapping[str, str] | None = None,
        protocols: Mapping[str, Mapping[str, int]] | None = None,
        logged: Mapping[str, pl.DataFrame] | None = None,
    ) -> Context:
        """`shards`: node -> shard, so a node borrows the samples of another node of its shard
        (the same keys) where its own missed a key."""
        sizes = sampled_sizes.sizes_frame(list(key_sizes), rules) if key_sizes else None
        lookup = replies.Lookup(sizes, resp)
        key_plan = keys.plan(keyspecs.load(commands_reply))
        return cls(
            key_plan=key_plan,
            parser=key_plan.parser(),
            lookup=lookup,
            keys=KeyDictionary(rules, lookup),
            signatures=SignatureDictionary(),
            combos=Combos(),
            start=through_time.StartSizes(start_sizes, shards) if start_sizes else None,
            brackets=(
                cardinality.Brackets(start_sizes, key_sizes, shards, rules) if start_sizes else None
            ),
            siblings=string_writes.Siblings(key_sizes, start_sizes, shards, rules) or None,
            protocols=protocols or {},
            logged=logged or {},
            start_fields=hash_fields.earlier_lengths(start_sizes) if start_sizes else None,
            start_sets=hash_fields.seen_sets(start_sizes) if start_sizes else None,
        )


def source_rows(
    source: parse.Source,
    ctx: Context,
    keep: Rows = lambda lf: lf,
    counts: parse.LineCounts | None = None,
    chunk_bytes: int | None = None,
    writes: prepass.Writes | None = None,
) -> Iterator[pl.DataFrame]:
    """The rows of one source, a chunk at a time, in file order (chunks without a command are
    skipped). `keep` filters the header rows (`ts`, `db`, `client`: the time window) before any
    body is split; `counts`, when given, counts every line for the capture's health, so no other
    pass reads the file. A damaged stream gives its readable lines (capture/format/reader.py):
    what was lost is noted in `counts`, or raised as `BadInput` after the rows without them.
    `writes`: the source's pre-pass started earlier (`prepass.Ahead`); else it starts here."""

    def cut(block: bytes) -> _Cut | None:
        scanned = scanner.scan(block, ctx.parser)
        del block
        if counts is not None:
            counts.add(scanned)
        heads = keep(scanned.frame.lazy()).collect()
        return _cut(heads, scanned.tails, source, ctx) if heads.height else None

    # Cutting, finishing and sizing strings through time overlap, one chunk each (`ahead`):
    # cutting needs nothing from earlier chunks; finishing (the dictionaries) and the strings'
    # last writes go in file order, each in its own thread. A chunk is decoded in the thread
    # that cuts it: a thread of its own kept one more chunk of text alive (~15 MiB of peak) for
    # the same CPU and wall.
    # Collections read between the two samples are placed by the writes before and after each
    # read: their writes are read first, on the side (`prepass`), while the first chunks are cut
    # (or while the source before is parsed). So are the first writes of strings, for the reads
    # before them, and the writes of the small hashes whose fields the after-window sample saw:
    # HGETs are judged against the field set at their time (`hash_fields`). One read of the lines.
    bracketed = ctx.brackets.of(source.node) if ctx.brackets else None
    placing = writes
    if placing is None and prepass.needed(ctx):  # no pre-pass given (`prepass.Ahead`): one here
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotshard-writes")
        placing = prepass.start(source, ctx, pool)
        pool.shutdown(wait=False)
    file = parse.open_source(source)
    lines = parse.line_chunks(file, chunk_bytes or parse.CHUNK_BYTES)
    cuts = ahead(cut(chunk) for chunk in lines)
    # Each client's protocol, from CLIENT LIST (capture) and the HELLO lines seen so far.
    spoken = dict(ctx.protocols.get(source.node, {}))
    finished = ahead(_finish(part, source, ctx, spoken) for part in cuts if part is not None)
    # Replies the server logged (COMMANDLOG large-reply): their bytes replace the estimate.
    logged_replies = logged.Matcher(ctx.logged.get(source.node, pl.DataFrame()))
    # GETs sized by the writes before them, and before any by the in-window sample (issue 11)
    start = ctx.start.of(source.node) if ctx.start else None
    if start is not None and ctx.since is not None:
        start = through_time.cleared(start, source, ctx.since)
    strings = through_time.Strings(start=start)
    collections: cardinality.Collections | None = None
    fields = hash_fields.Fields(ctx.lookup.full_fields, pl.DataFrame(schema=hash_fields.EVENTS))
    for chunk in finished:
        if placing is not None and strings.first is None:
            found = placing.result()
            first = found.first
            siblings = ctx.siblings.of(source.node, first) if ctx.siblings and first else None
            strings = through_time.Strings(
                start=start, first=first, siblings=siblings, rules=ctx.keys.rules
            )
            if bracketed is not None:
                collections = cardinality.Collections(bracketed, found.events, ctx.lookup.resp)
            fields = hash_fields.Fields(
                ctx.lookup.full_fields, found.fields, ctx.start_fields, ctx.start_sets
            )
        sized = collections.apply(chunk) if collections else chunk.drop(cardinality.READ_COLUMNS)
        final = logged_replies.apply(resp3_nulls(fields.apply(strings.apply(sized))))
        yield attribution.per_key(final, ctx.lookup)
    # What was readable is analyzed; the report's capture health says what was lost.
    if counts is not None:
        counts.ended(file)
    elif file.damaged:
        raise BadInput("; ".join(file.notes))


def _cut(heads: pl.DataFrame, texts: pl.DataFrame, source: parse.Source, ctx: Context) -> _Cut:
    """`heads` (`scanner.scan`: each row's first key as quoted and its tail's code) with each
    distinct tail of the chunk parsed.

    The native core cut each body into command, first argument and the rest: for the commands
    whose key is their first argument (GET, SET, HGET, ZRANGE...: the "fast" path) the key goes
    to the key dictionary while the command and the rest (the "tail": `SET`, `v`, `EX`, `60`)
    are parsed once per distinct tail of the chunk. Every other line (MGET, EVALSHA, a quote
    inside an argument...) is its own tail. Replies and signatures are then worked out once per
    distinct (tail, key size, pattern, sender) and joined back. `texts`: the tails by code, split
    (some may belong to rows `keep` left out: never gathered)."""
    per_row = heads.select(
        "ts", "db", "client", "_fast", "_key_raw", "_tail", origin=origin(source)
    ).with_columns(pl.col("_tail").cast(pl.UInt32))
    tail = _tails(texts, ctx)
    per_row = pl.concat(
        [per_row, tail.select(_TAIL_PER_ROW).select(pl.all().gather(per_row["_tail"]))],
        how="horizontal",
    )
    return _Cut(per_row, tail)


@dataclass
class _Cut:
    """A chunk's rows cut into command, key and tail (`_cut`), before the dictionaries."""

    rows: pl.DataFrame
    tails: pl.DataFrame  # per distinct tail (`_tails`)


def _finish(
    cut: _Cut, source: parse.Source, ctx: Context, spoken: dict[str, int] | None = None
) -> pl.DataFrame:
    """The rows of a cut chunk: key ids and attributes, signatures, replies (file order: the
    dictionaries give ids in order of first appearance)."""
    per_row, tail = cut.rows, cut.tails
    raw = per_row.select(pl.coalesce("_key_raw", "_tail_key_raw"))["_key_raw"]
    # Every key of a multi-key command is a key of the analysis too (its share of the reply is
    # charged to it: analyze/estimate/attribution.py): ids in file order, each row's keys in
    # their order (its first key first), whatever the chunks.
    named = (
        pl.DataFrame({"raw": raw, "multi": per_row["_keys_raw"]})
        .select(
            pl.when(pl.col("multi").is_not_null())
            .then(pl.col("multi"))
            .otherwise(pl.concat_list("raw"))
            .alias("keys")
        )
        .to_series()
    )
    lengths = named.list.len()
    ids = ctx.keys.ids(named.explode())
    key_id = ids.gather((lengths.cum_sum() - lengths).cast(pl.Int64)).rename("key_id")
    per_row = per_row.drop("_keys_raw")
    per_row = pl.concat(
        [per_row.drop("_key_raw", "_tail_key_raw"), key_id.to_frame(), ctx.keys.attributes(key_id)],
        how="horizontal",
    ).with_columns(key_name=pl.coalesce(pl.col("_key_text"), raw))
    length = pl.col("_key_len")
    # A fast tail was sized with a one-byte placeholder key (`$1\r\nK\r\n`, 7 bytes).
    key_bytes = pl.when("_fast").then(resp.bulk(length, length_digits) - 7).otherwise(0)
    # By command name, on the rows' command column (a set of names, not the per-line parse).
    cluster = pl.col("command").is_in(list(schema.CLUSTER_COMMANDS))
    per_row = per_row.with_columns(
        request_bytes=pl.col("_request_bytes") + key_bytes.fill_null(0),
        origin=pl.when(cluster).then(pl.lit(schema.ORIGIN_CLUSTER)).otherwise("origin"),
    ).with_columns(_client=pl.col("origin") == schema.ORIGIN_CLIENT)
    per_row = protocols(per_row, {} if spoken is None else spoken, ctx.lookup.resp)
    combos = ctx.combos.of(per_row, tail, ctx.lookup, ctx.keys, ctx.signatures)
    return (
        per_row.lazy()
        .join(combos.lazy(), on="_combo", how="left", maintain_order="left")
        .pipe(scripts.sized)
        .with_columns(
            node=pl.lit(source.node, pl.String),
            shard=pl.lit(source.shard, pl.String),
            source=pl.lit(Path(source.path).name, pl.String),
        )
        .select(
            *[pl.col(c).cast(t) for c, t in schema.COMMANDS.items() if c not in _LATER],
            *cardinality.READ_COLUMNS,
            *through_time.VALUE_COLUMNS,
            "_resp3",
            hash_fields.ASKED,
        )
        .collect()
    )


# Columns added once a chunk's replies are final (`source_rows`).
_LATER = ("keys_reply_bytes",)


_TAIL_PER_ROW = (
    "command",
    "arg_count",
    "key_count",
    "keys",
    "_request_bytes",
    "_tail_key_raw",
    "_keys_raw",
    "_class",
    "_hello",
    hash_fields.ASKED,
    *through_time.VALUE_COLUMNS,
)


def _tails(parsed: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Per distinct tail (by code; `scanner.Scanned.tails`: split, keys found and shaped by
    the native core): its keys' text, the request size, and the reply features of the
    arguments. A fast tail was parsed as a body whose key is a placeholder."""
    out = (
        parsed.lazy()
        .with_row_index("_code")
        .with_columns(
            keys=quoted.decode_keys(pl.col("_keys_raw")),
            # The reply features that need the key's text (XREAD's key length): whole tails.
            key_name=quoted.decode(pl.col("_tail_key_raw")).text,
        )
        # (`through_time.VALUE_COLUMNS` came from the core: analyze/native/src/values.rs `Values`)
        .with_columns(**ctx.lookup.tail_features())
        # A value handed on as a placeholder: its length, from the core.
        .with_columns(_f_vlen=pl.coalesce("_long_value", "_f_vlen"))
        .rename({"request_bytes": "_request_bytes"})
        # `HELLO 3` switches its connection to RESP3 (`HELLO` alone changes nothing)
        .with_columns(
            _hello=pl.when(pl.col("command") == "hello")
            .then(pl.col("args").list.first())
            .cast(pl.Int32, strict=False),
            # the fields an HGET/HMGET asks, for its small hash's field set at its time
            **{hash_fields.ASKED: _asked(ctx)},
        )
        .collect()
    )
    # Tails that differ only in what neither reply nor signature looks at (SET's value) share
    # a class: the reply model and the signatures then run once per class, not per tail.
    same = pl.struct("command", "arg_shape", pl.col("^_f_.*$"))
    return out.with_columns(_class=same.hash())  # the same in every chunk (`Combos`)


def _asked(ctx: Context) -> pl.Expr:
    """`hash_fields.ASKED` of a tail: null unless some hash's sample saw every field."""
    if not ctx.lookup.full_fields.height:
        return pl.lit(None, pl.String)
    return (
        pl.when(pl.col("command").is_in(hash_fields.READS))
        .then(pl.col("args"))
        .list.slice(1)
        .list.join(hash_fields.SEP)
    )
