"""The one path from MONITOR lines to the analyzer's rows (`schema.COMMANDS`).

Per chunk of a source's lines (`parse.line_chunks`, ~64 MiB of text):

1. header: `ts`, `db`, `client` and the quoted body of every command line (`parse.mark_lines`),
   counted for the capture's health; the time window is applied here, before any body is split;
2. body, per row: the arguments split on the literal `" "` (`split_body`), the command, its
   request size, the first key as quoted and the argument shape (`keys.find_keys`);
3. per distinct key, once per analysis: its id, text, bytes, slot, pattern and sampled size
   (`dictionaries.KeyDictionary`), gathered back into the rows by id;
4. per distinct signature: its id (`dictionaries.SignatureDictionary`);
5. the reply estimate, per distinct combination of what a reply depends on (`replies`).

Stages pass columns by name; the ones that start with `_` are transient and never written. Steps
2 and 5 run on Polars' streaming engine (both cores); steps 3-4 on whole columns, in file order,
so that ids are the same for the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from analyze import keys, keyspecs, parse, patterns, replies, schema
from analyze.dictionaries import KeyDictionary, SignatureDictionary
from analyze.errors import BadInput
from analyze.lists import only_rows
from capture.manifest import KeySize

Rows = Callable[[pl.LazyFrame], pl.LazyFrame]


@dataclass
class Context:
    """What every chunk of one analysis shares: key specs, pattern rules, sampled sizes, and
    the dictionaries of keys and signatures seen so far."""

    key_plan: keys.KeyPlan
    lookup: replies.Lookup
    keys: KeyDictionary
    signatures: SignatureDictionary

    @classmethod
    def create(
        cls,
        commands_reply: list[Any] | None = None,
        rules: Sequence[patterns.Rule] = patterns.DEFAULT_RULES,
        key_sizes: Sequence[KeySize] = (),
        resp: int = 2,
    ) -> Context:
        sizes = replies.sizes_frame(list(key_sizes), rules) if key_sizes else None
        lookup = replies.Lookup(sizes, resp)
        return cls(
            key_plan=keys.plan(keyspecs.load(commands_reply)),
            lookup=lookup,
            keys=KeyDictionary(rules, lookup),
            signatures=SignatureDictionary(),
        )


def source_rows(
    source: parse.Source,
    ctx: Context,
    keep: Rows = lambda lf: lf,
    counts: parse.LineCounts | None = None,
    chunk_bytes: int = parse.CHUNK_BYTES,
) -> Iterator[pl.DataFrame]:
    """The rows of one source, a chunk at a time, in file order (chunks without a command are
    skipped). `keep` filters the header rows (`ts`, `db`, `client`: the time window) before any
    body is split; `counts`, when given, counts every line for the capture's health, so no other
    pass reads the file. A damaged stream ends the source after its readable lines: noted in
    `counts`, or raised as `BadInput` without them."""
    try:
        for lines in parse.line_chunks(source, chunk_bytes):
            marked = parse.mark_lines(lines.lazy()).collect()
            del lines
            if counts is not None:
                counts.add(marked)
            heads = keep(parse.header_rows(marked.lazy())).collect()
            del marked
            if heads.height:
                yield chunk_rows(heads, source, ctx)
    except parse.Damaged as exc:
        # What was readable is analyzed; the report's capture health says where it stopped.
        if counts is None:
            raise BadInput(str(exc)) from None
        counts.note = str(exc)


def chunk_rows(heads: pl.DataFrame, source: parse.Source, ctx: Context) -> pl.DataFrame:
    """The rows (`schema.COMMANDS`) of `heads` (`parse.header_rows`: ts, db, client, body)."""
    parsed = (
        heads.lazy()
        .pipe(split_body)
        .pipe(keys.find_keys, ctx.key_plan)
        .with_columns(origin=origin(source))
        .collect()
    )
    key_id = ctx.keys.ids(parsed["key_raw"])
    parsed = pl.concat(
        [parsed.drop("key_raw"), key_id.to_frame(), ctx.keys.attributes(key_id)], how="horizontal"
    )
    parsed = parsed.with_columns(signature_id=ctx.signatures.ids(parsed, ctx.keys))
    client = pl.col("origin") == schema.ORIGIN_CLIENT
    return (
        parsed.lazy()
        .with_columns(keys=keys.decode_keys(pl.col("keys_raw")))
        .pipe(replies.estimate, ctx.lookup)
        .with_columns(
            # Replicated writes and script sub-commands sent nothing to a client.
            reply_bytes=pl.when(client).then("reply_bytes").otherwise(pl.lit(0, pl.Int64)),
            reply_confidence=pl.when(client).then("reply_confidence").otherwise(pl.lit("none")),
            node=pl.lit(source.node, pl.String),
            shard=pl.lit(source.shard, pl.String),
            source=pl.lit(Path(source.path).name, pl.String),
        )
        .select([pl.col(c).cast(t) for c, t in schema.COMMANDS.items()])
        .collect()
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
# One escape sequence as Redis prints it: `\xHH` is 4 characters for 1 byte, the others 2 for 1.
ESCAPE = r"\\(?:x[0-9a-fA-F]{2}|.)"


def split_body(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Replace `body` (the quoted fields, well formed: `parse.header_rows`) by `command` (lower
    case), `arg_count`, `request_bytes` and `args` (each argument after the command, as quoted:
    escapes NOT resolved).

    The fields are split on the literal `" "`, which is exact unless a line holds `\\"` (an
    argument with a quote in it, or ending in a backslash): those rare rows take the
    escape-aware regex."""
    body = pl.col("body")
    odd = body.str.contains('\\"', literal=True)
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


def _digits(n: pl.Expr) -> pl.Expr:
    """Decimal digits of a length (comparisons: casting to text per element is much slower)."""
    out = pl.lit(1, pl.Int64)
    for power in range(1, 10):
        out = out + (n >= 10**power).cast(pl.Int64)
    return out


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
    per_arg = decoded.list.eval(length + _digits(length) + 5).list.sum()
    n = parts.list.len().cast(pl.Int64)
    return _digits(n) + 3 + per_arg  # `*N\\r\\n`
