"""A key as MONITOR quoted it -> its text and exact bytes, as Polars expressions; run once per
distinct key (`hotshard.analyze.rows.ids`), never per row.

Text form of a key (`hotshard.capture.format.lines.key_text`): most keys have no backslash and are their own
text. Keys with simple escapes go through one Aho-Corasick `replace_many`. Keys with `\\xHH` are
hex-encoded, their escapes replaced in the hex domain (an escape's leading `5c` cannot sit at an
odd offset of ASCII text, so matches stay aligned), checked for UTF-8 with a regex over hex pairs,
and decoded: no Python per key, and exact bytes for `key_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hotshard.analyze.sparse import only_rows


def arguments(body: pl.Expr) -> pl.Expr:
    """A MONITOR line's body (`"SET" "k" "v"`) as the list of its fields as quoted, command
    first. A field's own quotes are escaped (`\\"`), so `" "` only ever separates two."""
    return body.str.strip_prefix('"').str.strip_suffix('"').str.split('" "')


# -- escapes ----------------------------------------------------------------------------------
_SIMPLE = {
    "\\\\": "\\",
    '\\"': '"',
    "\\n": "\n",
    "\\r": "\r",
    "\\t": "\t",
    "\\a": "\a",
    "\\b": "\b",
}


def _hex(text: str) -> str:
    return text.encode().hex()


# In the hex domain: `\xHH` (8 hex digits) -> HH, `\n` (4) -> 0a, ...
_HEX_FROM = [_hex(k) for k in _SIMPLE] + [_hex(f"\\x{i:02x}") for i in range(256)]
_HEX_TO = [_hex(v) for v in _SIMPLE.values()] + [f"{i:02x}" for i in range(256)]
_CONT = "[89ab][0-9a-f]"
# Well-formed UTF-8 (RFC 3629) over lower-case hex pairs.
_UTF8_HEX = (
    "^(?:[0-7][0-9a-f]"
    f"|(?:c[2-9a-f]|d[0-9a-f]){_CONT}"
    f"|e0[ab][0-9a-f]{_CONT}"
    f"|(?:e[1-9a-c]|e[ef]){_CONT}{_CONT}"
    f"|ed[89][0-9a-f]{_CONT}"
    f"|f0[9ab][0-9a-f]{_CONT}{_CONT}"
    f"|f[1-3]{_CONT}{_CONT}{_CONT}"
    f"|f48[0-9a-f]{_CONT}{_CONT}"
    ")*$"
)


@dataclass(frozen=True)
class Decoded:
    text: pl.Expr  # the key_text form
    binary: pl.Expr  # not valid UTF-8: `text` is then the escaped form, as MONITOR printed it
    raw_bytes: pl.Expr  # the exact bytes


def decode(raw: pl.Expr) -> Decoded:
    """Resolve Redis' MONITOR escapes of a string expression (an argument as quoted)."""
    has_x = raw.str.contains("\\x", literal=True)
    simple = pl.when(~has_x & raw.str.contains("\\", literal=True)).then(raw)
    unescaped = simple.str.replace_many(list(_SIMPLE), list(_SIMPLE.values()), leftmost=True)
    hexed = (
        pl.when(has_x)
        .then(raw)
        .str.encode("hex")
        .str.replace_many(_HEX_FROM, _HEX_TO, leftmost=True)
    )
    utf8 = hexed.str.contains(_UTF8_HEX)
    text_x = pl.when(utf8).then(hexed).str.decode("hex").cast(pl.String)
    text = pl.coalesce(text_x, unescaped, raw)  # binary keys keep their escaped (raw) form
    return Decoded(
        text=text,
        binary=(has_x & ~utf8).fill_null(False),
        raw_bytes=pl.coalesce(hexed.str.decode("hex"), text.cast(pl.Binary)),
    )


# -- the plan: key specs as parameter Series ----------------------------------------------------


def decode_keys(raw: pl.Expr) -> pl.Expr:
    """Text form of a List of keys as quoted (escaped ones resolved; few have a backslash)."""
    escaped = raw.list.eval(pl.element().str.contains("\\", literal=True)).list.any()
    return pl.coalesce(
        pl.when(~escaped).then(raw),
        only_rows(raw, escaped).list.eval(decode(pl.element()).text),
    )


def decode_column(lf: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """`decode` of one string column in stages: adds `<column>_text`, `_binary`, `_bytes`
    (and a few `<column>_*` helpers)."""
    raw = pl.col(column)
    has_x = pl.col(f"{column}_has_x")
    lf = lf.with_columns(
        **{
            f"{column}_has_x": raw.str.contains("\\x", literal=True),
            f"{column}_has_bs": raw.str.contains("\\", literal=True),
        }
    )
    hexed = (
        pl.when(has_x)
        .then(raw)
        .str.encode("hex")
        .str.replace_many(_HEX_FROM, _HEX_TO, leftmost=True)
    )
    lf = lf.with_columns(**{f"{column}_hex": hexed}).with_columns(
        **{f"{column}_utf8": pl.col(f"{column}_hex").str.contains(_UTF8_HEX)}
    )
    hexed, utf8 = pl.col(f"{column}_hex"), pl.col(f"{column}_utf8")
    unescaped = (
        pl.when(~has_x & pl.col(f"{column}_has_bs"))
        .then(raw)
        .str.replace_many(list(_SIMPLE), list(_SIMPLE.values()), leftmost=True)
    )
    lf = lf.with_columns(
        **{
            f"{column}_text": pl.coalesce(
                pl.when(utf8).then(hexed).str.decode("hex").cast(pl.String), unescaped, raw
            ),
            f"{column}_binary": pl.when(raw.is_not_null()).then((has_x & ~utf8).fill_null(False)),
        }
    )
    return lf.with_columns(
        **{
            f"{column}_bytes": pl.coalesce(
                hexed.str.decode("hex"), pl.col(f"{column}_text").cast(pl.Binary)
            )
        }
    )
