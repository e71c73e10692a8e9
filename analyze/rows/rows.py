"""The one path from MONITOR lines to the analyzer's rows (`schema.COMMANDS`).

Per chunk of a source's lines (`parse.line_chunks`, ~32 MiB of text):

1. header: `ts`, `db`, `client` and the quoted body of every command line (`parse.mark_lines`),
   counted for the capture's health; the time window is applied here, before any body is split;
2. body, per row: the arguments split on the literal `" "` (`split_body`), the command, its
   request size, the first key as quoted and the argument shape (`keys.find_keys`);
3. per distinct key, once per analysis: its id, text, bytes, slot, pattern and sampled size
   (`dictionaries.KeyDictionary`), gathered back into the rows by id;
4. per distinct signature: its id (`dictionaries.SignatureDictionary`);
5. the reply estimate, per distinct combination of what a reply depends on (`replies`);
6. sizes through the window: whole reads of collections that changed between the two key-size
   samples placed by the writes around them (`cardinality`), GETs by the writes before them
   (`through_time`).

Stages pass columns by name; the ones that start with `_` are transient and never written. Steps
2 and 5 run on Polars' streaming engine (both cores); steps 3-4 on whole columns, in file order,
so that ids are the same for the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.errors import BadInput
from hotshard.analyze.estimate import cardinality, replies, through_time
from hotshard.analyze.estimate.resp_exprs import length_digits
from hotshard.analyze.keys import keys, keyspecs, patterns
from hotshard.analyze.lists import only_rows
from hotshard.analyze.read import parse
from hotshard.analyze.read.ahead import ahead
from hotshard.analyze.rows.dictionaries import (
    KeyDictionary,
    SignatureDictionary,
    first_appearance_ids,
)
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
    start: through_time.StartSizes | None = None  # key sizes at the start of the window
    brackets: cardinality.Brackets | None = None  # collections sampled at both ends

    @classmethod
    def create(
        cls,
        commands_reply: list[Any] | None = None,
        rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES,
        key_sizes: Sequence[KeySize] = (),
        resp: int = 2,
        start_sizes: Sequence[KeySize] = (),
        shards: Mapping[str, str] | None = None,
    ) -> Context:
        """`shards`: node -> shard, so a node borrows the samples of another node of its shard
        (the same keys) where its own missed a key."""
        sizes = replies.sizes_frame(list(key_sizes), rules) if key_sizes else None
        lookup = replies.Lookup(sizes, resp)
        return cls(
            key_plan=keys.plan(keyspecs.load(commands_reply)),
            lookup=lookup,
            keys=KeyDictionary(rules, lookup),
            signatures=SignatureDictionary(),
            start=through_time.StartSizes(start_sizes, shards) if start_sizes else None,
            brackets=cardinality.Brackets(start_sizes, key_sizes, shards) if start_sizes else None,
        )


def source_rows(
    source: parse.Source,
    ctx: Context,
    keep: Rows = lambda lf: lf,
    counts: parse.LineCounts | None = None,
    chunk_bytes: int | None = None,
) -> Iterator[pl.DataFrame]:
    """The rows of one source, a chunk at a time, in file order (chunks without a command are
    skipped). `keep` filters the header rows (`ts`, `db`, `client`: the time window) before any
    body is split; `counts`, when given, counts every line for the capture's health, so no other
    pass reads the file. A damaged stream gives its readable lines (capture/format/reader.py):
    what was lost is noted in `counts`, or raised as `BadInput` after the rows without them."""

    def cut(lines: pl.DataFrame) -> _Cut | None:
        marked = parse.mark_lines(lines.lazy()).collect()
        del lines
        if counts is not None:
            counts.add(marked)
        heads = keep(parse.header_rows(marked.lazy())).collect()
        del marked
        return _cut(heads, source, ctx) if heads.height else None

    # Decoding, cutting, finishing and sizing strings through time overlap, one chunk each
    # (`ahead`): cutting needs nothing from earlier chunks; finishing (the dictionaries) and the
    # strings' last writes go in file order, each in its own thread.
    # Collections read between the two samples are placed by the writes before and after each
    # read: their writes are read first, on the side, while the first chunks are cut.
    bracketed = ctx.brackets.of(source.node) if ctx.brackets else None
    placing = None
    if bracketed is not None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotshard-writes")
        placing = pool.submit(cardinality.write_events, source, bracketed["key_name"].to_list())
        pool.shutdown(wait=False)
    file = parse.open_source(source)
    lines = ahead(parse.line_chunks(file, chunk_bytes or parse.CHUNK_BYTES))
    cuts = ahead(cut(chunk) for chunk in lines)
    finished = ahead(_finish(part, source, ctx) for part in cuts if part is not None)
    # GETs sized by the writes before them, and before any by the in-window sample (issue 11)
    strings = through_time.Strings(start=ctx.start.of(source.node) if ctx.start else None)
    collections: cardinality.Collections | None = None
    for chunk in finished:
        if placing is not None and collections is None:
            assert bracketed is not None
            collections = cardinality.Collections(bracketed, placing.result(), ctx.lookup.resp)
        sized = collections.apply(chunk) if collections else chunk.drop(cardinality.READ_COLUMNS)
        yield strings.apply(sized)
    # What was readable is analyzed; the report's capture health says what was lost.
    if counts is not None:
        counts.ended(file)
    elif file.damaged:
        raise BadInput("; ".join(file.notes))


def _cut(heads: pl.DataFrame, source: parse.Source, ctx: Context) -> _Cut:
    """`heads` cut into command, key and tail, each distinct tail parsed.

    Per row only the cheap part: the body cut into command, first argument and the rest, and
    for the commands whose key is their first argument (GET, SET, HGET, ZRANGE...: the "fast"
    path) the key goes to the key dictionary while the command and the rest (the "tail":
    `SET`, `v`, `EX`, `60`) are parsed once per distinct tail of the chunk. Every other line
    (MGET, EVALSHA, a quote inside an argument...) is its own tail. Replies and signatures are
    then worked out once per distinct (tail, key size, pattern, sender) and joined back."""
    body, first, rest, cmd = pl.col("body"), pl.col("_a"), pl.col("_r"), pl.col("_c")
    fast = cmd.is_in(ctx.key_plan.fast_spellings) & first.is_not_null() & ~misplit(body)
    per_row = (
        heads.lazy()
        .with_columns(_parts=body.str.splitn('" "', 3))
        .with_columns(
            _c=pl.col("_parts").struct.field("field_0"),
            _a=pl.col("_parts").struct.field("field_1"),
            _r=pl.col("_parts").struct.field("field_2"),
        )
        .with_columns(_fast=fast)
        .select(
            "ts",
            "db",
            "client",
            "_fast",
            origin=origin(source),
            _key_raw=pl.when("_fast").then(
                pl.when(rest.is_null()).then(first.str.strip_suffix('"')).otherwise(first)
            ),
            _tail=pl.when("_fast")
            .then(pl.concat_str(cmd, pl.lit(_SEP), rest.fill_null(_NONE)))
            .otherwise(pl.lit(_WHOLE) + body),
        )
        .collect()
    )
    codes, texts = first_appearance_ids(per_row["_tail"])
    per_row = per_row.with_columns(_tail=codes)
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


def _finish(cut: _Cut, source: parse.Source, ctx: Context) -> pl.DataFrame:
    """The rows of a cut chunk: key ids and attributes, signatures, replies (file order: the
    dictionaries give ids in order of first appearance)."""
    per_row, tail = cut.rows, cut.tails
    raw = per_row.select(pl.coalesce("_key_raw", "_tail_key_raw"))["_key_raw"]
    key_id = ctx.keys.ids(raw)
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
    combos = _combos(per_row, tail, ctx)
    return (
        per_row.lazy()
        .join(combos.lazy(), on="_combo", how="left", maintain_order="left")
        .with_columns(
            node=pl.lit(source.node, pl.String),
            shard=pl.lit(source.shard, pl.String),
            source=pl.lit(Path(source.path).name, pl.String),
        )
        .select(
            *[pl.col(c).cast(t) for c, t in schema.COMMANDS.items()],
            *cardinality.READ_COLUMNS,
            *through_time.VALUE_COLUMNS,
        )
        .collect()
    )


# Tail texts: a fast line's command and rest (`_SEP`; `_NONE` when there is no rest), or a whole
# body (`_WHOLE`). Control characters never appear raw in MONITOR output, so they cannot clash.
_SEP, _NONE, _WHOLE = "\x00", "\x01", "\x02"
_TAIL_PER_ROW = (
    "command",
    "arg_count",
    "key_count",
    "keys",
    "_request_bytes",
    "_tail_key_raw",
    "_class",
    *through_time.VALUE_COLUMNS,
)
# What a reply and a signature depend on: the tail's class (`_tails`), the key's pattern and
# sampled size, and whether a client sent it.
_COMBO = ["_class", "_pattern_id", "_key_sz", "_key_own", "_key_pim", "_client"]


def _tails(texts: pl.Series, ctx: Context) -> pl.DataFrame:
    """Per distinct tail (by code): command, arg_count, key_count, keys, the request size, the
    first key of a whole-body tail, arg_shape and the reply features of the arguments. A fast
    tail is parsed as a body whose key is a placeholder."""
    frame = texts.rename("_text").to_frame().with_row_index("_code")
    whole = pl.col("_text").str.starts_with(_WHOLE)
    parts = pl.col("_text").str.splitn(_SEP, 2)
    command, rest = parts.struct.field("field_0"), parts.struct.field("field_1")
    fast = (
        frame.lazy()
        .filter(~whole)
        .with_columns(
            body=pl.concat_str(
                command,
                pl.when(rest == _NONE).then(pl.lit('" "K"')).otherwise(pl.lit('" "K" "') + rest),
            )
        )
        .pipe(split_body)
        .pipe(keys.find_keys, ctx.key_plan, all_fast=True)
        .with_columns(keys=pl.lit(None, pl.List(pl.String)), _tail_key_raw=pl.lit(None, pl.String))
    )
    slow = (
        frame.lazy()
        .filter(whole)
        .with_columns(body=pl.col("_text").str.slice(1))
        .pipe(split_body)
        .pipe(keys.find_keys, ctx.key_plan)
        .with_columns(keys=keys.decode_keys(pl.col("keys_raw")), _tail_key_raw="key_raw")
    )
    out = (
        pl.concat([fast, slow], how="vertical_relaxed")
        # The reply features that need the key's text (XREAD's key length): whole tails only.
        .with_columns(key_name=keys.decode(pl.col("_tail_key_raw")).text)
        .with_columns(**ctx.lookup.tail_features(), **through_time.value_columns())
        .rename({"request_bytes": "_request_bytes"})
        .collect()
        .sort("_code")
    )
    # Tails that differ only in what neither reply nor signature looks at (SET's value) share
    # a class: the reply model and the signatures then run once per class, not per tail.
    same = pl.struct("command", "arg_shape", pl.col("^_f_.*$"))
    return out.with_columns(_class=(same.hash().rank("dense") - 1).cast(pl.UInt32))


def _combos(per_row: pl.DataFrame, tail: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Per distinct (tail, key pattern, key size, sender) of the chunk (`_combo`, the hash of
    `_COMBO`, added to `per_row` in place): signature id and reply."""
    per_row.insert_column(per_row.width, per_row.select(_combo=pl.struct(_COMBO).hash())["_combo"])
    # The first row of each combination stands for it: every tail of a class has its features.
    combos = per_row.select("_combo", "_tail", *_COMBO).unique("_combo", maintain_order=True)
    if combos.select(_COMBO).n_unique() != combos.height:  # a 64-bit collision: never seen
        raise AssertionError("hash collision between reply combinations")
    features = tail.select("command", "arg_shape", pl.col("^_f_.*$")).select(
        pl.all().gather(combos["_tail"])
    )
    combos = pl.concat([combos, features], how="horizontal").with_columns(
        _f_client=pl.col("_client"),
        _f_own=pl.col("_key_own").fill_null(False),
        _f_sz=pl.col("_key_sz"),
        _f_pim=pl.when(pl.col("command") == "mget").then(pl.col("_key_pim")),
    )
    replies_ = ctx.lookup.estimate_combos(combos)
    signature_id = ctx.signatures.ids(combos, ctx.keys)
    reads = cardinality.read_columns(combos)  # which replies scale with the cardinality
    return pl.concat(
        [combos.select("_combo"), replies_, signature_id.to_frame(), reads], how="horizontal"
    )


def origin(source: parse.Source) -> pl.Expr:
    """Where a line came from (`schema.ORIGIN_*`): a script's `redis.call` (`lua`), a write
    replicated from the primary (seen on a replica, from the primary's address), or a client."""
    client = pl.col("client")
    replicated = (
        client.is_in(list(source.primary_addresses))
        if source.primary_addresses and source.role != "primary"
        else pl.lit(False)
    )
    return (
        pl.when(client == "lua")
        .then(pl.lit(schema.ORIGIN_SCRIPT))
        .when(replicated)
        .then(pl.lit(schema.ORIGIN_REPLICATED))
        .otherwise(pl.lit(schema.ORIGIN_CLIENT))
    )


# -- the body -----------------------------------------------------------------------------------
def misplit(body: pl.Expr) -> pl.Expr:
    """Whether splitting `body` on the literal `" "` could cut inside an argument.

    Inside an argument a quote is always escaped (`\\"`), so an occurrence of `" "` whose first
    quote has no backslash before it is a closing quote, the separating space and the next
    opening quote. Only `\\" "` (an escaped quote and a space ending an argument, or an escaped
    backslash ending one) can mislead; JSON values (`{\\"id\\":1}`) never hold it."""
    return body.str.contains('\\" "', literal=True)


# One escape sequence as Redis prints it: `\xHH` is 4 characters for 1 byte, the others 2 for 1.
ESCAPE = r"\\(?:x[0-9a-fA-F]{2}|.)"


def split_body(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Replace `body` (the quoted fields, well formed: `parse.header_rows`) by `command` (lower
    case), `arg_count`, `request_bytes` and `args` (each argument after the command, as quoted:
    escapes NOT resolved).

    The fields are split on the literal `" "` unless `misplit` says that could cut inside an
    argument: those rare rows take the escape-aware regex."""
    body = pl.col("body")
    odd = misplit(body)
    parts = pl.coalesce(
        pl.when(odd)
        .then(body)
        .str.extract_all(parse.QUOTED_ARG)
        .list.eval(pl.element().str.strip_prefix('"').str.strip_suffix('"')),
        body.str.strip_prefix('"').str.strip_suffix('"').str.split('" "'),
    )
    lf = lf.with_columns(_parts=parts, _escaped=body.str.contains("\\", literal=True))
    parts = pl.col("_parts")
    return lf.with_columns(
        command=parts.list.first().str.to_lowercase(),
        arg_count=(parts.list.len() - 1).cast(pl.Int32),
        request_bytes=_request_bytes(parts, pl.col("_escaped")),
        args=parts.list.slice(1),
    ).drop("body", "_parts", "_escaped")


def _request_bytes(parts: pl.Expr, escaped: pl.Expr) -> pl.Expr:
    """The command as a RESP2 array: `*N\\r\\n` + per argument `$len\\r\\n` + bytes + `\\r\\n`,
    with decoded lengths (`\\xHH` is one byte). Only the arguments of lines with a backslash
    go through the escape regex (compacted first: a masked list still pays per element); the
    others are their own length. `escaped`: the line has a backslash."""
    decoded = pl.coalesce(
        only_rows(parts, escaped).list.eval(
            pl.element().str.replace_all(ESCAPE, "_").str.len_bytes()
        ),
        parts.list.eval(pl.element().str.len_bytes()),
    )
    length = pl.element().cast(pl.Int64)
    per_arg = decoded.list.eval(resp.bulk(length, length_digits)).list.sum()
    n = parts.list.len().cast(pl.Int64)
    return resp.array_header(n, length_digits) + per_arg
