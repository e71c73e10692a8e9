"""Every distinct key and command signature of an analysis, each worked out once and given an id.

A MONITOR capture names the same keys over and over (a hot key is the same key a million times)
or, in cache and session traffic, millions of keys once each. Either way, a key's text, exact
bytes, slot, pattern and sampled size depend on the key alone, so they are computed once, the
first time the key is seen, and every row only carries the key's integer id.

Key ids come from the native core (`scanner.KeyIds`: the keys as quoted, back to back in one
buffer, and a hash table of ids), which unquotes, slots and patterns each new key once (the rules
applied as Polars' `str.replace_all` applies them) and finds it among the sampled keys; the
sampled sizes are then looked up per new key and per new pattern. Signature ids come from a
Polars `Categories` mapping (`Mapping`). Ids are assigned in file order, so in order of first appearance:
the same for the same input. Memory grows with the number of distinct keys (docs/BENCHMARKS.md
gives the cost per key), never with the number of lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate import replies
from hotshard.analyze.keys import patterns
from hotshard.analyze.read import scanner

# The per-row attributes of a key, gathered by id into every chunk's rows.
_PER_ROW = ("_key_text", "_key_len", "_pattern_id", "_key_sz", "_key_own", "_key_pim")


def first_appearance_ids(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Per value its id (UInt32, in order of first appearance; null stays null), and the
    distinct values by id. Values are matched by a 128-bit hash (two 64-bit hashes: two values
    never share one in practice): cheaper than hashing the strings into a map, for one chunk."""
    value = pl.col("value")
    frame = pl.DataFrame({"value": values}).with_columns(
        _h1=pl.when(value.is_not_null()).then(value.hash(seed=1)),
        _h2=pl.when(value.is_not_null()).then(value.hash(seed=2)),
    )
    on = ["_h1", "_h2"]
    distinct = (
        frame.filter(value.is_not_null())
        .unique(on, maintain_order=True)
        .with_columns(id=pl.int_range(pl.len(), dtype=pl.UInt32))
    )
    ids = frame.select(on).join(
        distinct.select(*on, "id"), on=on, how="left", maintain_order="left"
    )
    return ids["id"], distinct["value"]


class Mapping:
    """String -> id, assigned in order of first appearance, for as long as this object lives."""

    def __init__(self) -> None:
        self.categories = pl.Categories.random()
        self.dtype = pl.Categorical(self.categories)
        # Polars frees a mapping once no Series of its type is left: this one keeps it.
        self._anchor = pl.Series([], dtype=self.dtype)

    def codes(self, values: pl.Series) -> pl.Series:
        """The id of each value (UInt32; null stays null), new values getting the next ids."""
        return values.rechunk().cast(self.dtype).to_physical()

    def values(self) -> pl.Series:
        """Every value so far, by id."""
        return self.categories.to_series()


class _Growing:
    """Rows appended chunk by chunk, gathered by row number: compacted when the tail is as long
    as the compacted part, so every row is copied O(1) times on average."""

    def __init__(self, schema_: dict[str, pl.DataType]) -> None:
        self.done = pl.DataFrame(schema=schema_)
        self.tail: list[pl.DataFrame] = []
        self.tail_rows = 0

    def append(self, df: pl.DataFrame) -> None:
        self.tail.append(df)
        self.tail_rows += df.height
        if self.tail_rows >= max(self.done.height, 1 << 16):
            self.done = pl.concat([self.done, *self.tail], rechunk=True)
            self.tail, self.tail_rows = [], 0

    def frame(self) -> pl.DataFrame:
        if self.tail:
            self.done = pl.concat([self.done, *self.tail], rechunk=True)
            self.tail, self.tail_rows = [], 0
        return self.done

    def gather(self, index: pl.Series) -> pl.DataFrame:
        return self.frame().select(pl.all().gather(index))


class KeyDictionary:
    """The distinct first keys seen so far: id -> text, bytes, slot, pattern, sampled size."""

    def __init__(self, rules: Sequence[patterns.Rule], lookup: replies.Lookup) -> None:
        self.rules, self.lookup = tuple(rules), lookup
        self.native = scanner.KeyIds(
            [(r.match, r.replace, r.needs) for r in self.rules],
            lookup.key_enum.categories.to_list(),
        )
        self.count = 0
        self.patterns: list[str] = []  # pattern text by pattern id
        # Per pattern id, its row in `lookup.patterns` (null: no sample of that pattern).
        self._pattern_rows = pl.Series(dtype=pl.UInt32)
        # One row per key id: what schema.KEYS needs and the per-row attributes. Stored once per
        # distinct key, so as little as can be: the text only when it differs from the key as
        # quoted (the mapping holds that), the bytes only for binary keys (else the text's),
        # the pattern as its id.
        self.keys = _Growing(
            {
                "key_id": pl.Int32(),
                "_key_text": pl.String(),
                "key_binary": pl.Boolean(),
                "key_bytes": pl.Binary(),
                "slot": pl.Int32(),
                "_key_len": pl.Int64(),
                "_pattern_id": pl.UInt32(),
                "_key_sz": pl.UInt32(),
                "_key_own": pl.Boolean(),
                "_key_pim": pl.UInt32(),
            }
        )

    def ids(self, raw: pl.Series) -> pl.Series:
        """The id of each key of `raw` (keys as quoted in MONITOR; null: no key), registering
        the keys not seen before."""
        key_id, new, patterns = self.native.ids(raw)
        if new.height:
            self._register(new, patterns)
        return key_id

    def attributes(self, key_id: pl.Series) -> pl.DataFrame:
        """Per row, the attributes of its key (`_PER_ROW`), null where there is none:
        `_key_text` is the key's text where it differs from the key as quoted (escapes)."""
        return self.keys.frame().select(pl.col(list(_PER_ROW)).gather(key_id))

    def _register(self, new: pl.DataFrame, patterns: list[str]) -> None:
        """`new` (`scanner.KeyIds.ids`: unquoted, slotted and patterned in the core, `patterns`
        the new patterns by id) with its sampled sizes (`replies.Lookup.key_columns`)."""
        assert new["key_id"][0] == self.count and new["key_id"][-1] == self.count + new.height - 1
        if patterns:
            self.patterns.extend(patterns)
            rows = pl.Series(patterns, dtype=pl.String).cast(self.lookup.pattern_enum, strict=False)
            self._pattern_rows.append(rows.to_physical().cast(pl.UInt32))
        pattern_row = self._pattern_rows.gather(new["pattern_id"])
        own = new["sampled"]
        self.keys.append(
            new.select(
                "key_id",
                _key_text="text",
                key_binary="binary",
                key_bytes="bytes",
                slot="slot",
                _key_len="length",
                _pattern_id="pattern_id",
            ).with_columns(
                _key_sz=pl.coalesce(own, pattern_row + self.lookup.n_keys).cast(pl.UInt32),
                _key_own=own.is_not_null(),
                _key_pim=pattern_row,
            )
        )
        self.count += new.height

    def pattern_names(self, pattern_id: pl.Series) -> pl.Series:
        return pl.Series(self.patterns, dtype=pl.String).gather(pattern_id)

    def table(self) -> pl.DataFrame:
        """The `keys` table (schema.KEYS), by id."""
        frame = self.keys.frame()
        raw = self.native.values()[: frame.height]
        return (
            frame.with_columns(
                key_name=pl.coalesce(pl.col("_key_text"), raw),
                key_pattern=self.pattern_names(frame["_pattern_id"]),
            )
            .with_columns(key_bytes=pl.coalesce("key_bytes", pl.col("key_name").cast(pl.Binary)))
            .select(list(schema.KEYS))
        )


class SignatureDictionary:
    """The distinct `COMMAND | pattern | arg shape` seen so far, by id."""

    def __init__(self) -> None:
        self.mapping = Mapping()
        self.signatures = _Growing(schema.SIGNATURES)
        self.count = 0

    def ids(self, rows: pl.DataFrame, key_dictionary: KeyDictionary) -> pl.Series:
        """The signature id of every row of `rows` (command, `_pattern_id`, arg_shape)."""
        on = ["command", "_pattern_id", "arg_shape"]
        combos = rows.select(on).unique(maintain_order=True)
        combos = combos.with_columns(
            key_pattern=key_dictionary.pattern_names(combos["_pattern_id"])
        ).with_columns(
            signature=patterns.signature_expr(
                pl.col("command"), pl.col("key_pattern"), pl.col("arg_shape")
            )
        )
        codes = self.mapping.codes(combos["signature"])
        combos = combos.with_columns(signature_id=codes.cast(pl.Int32))
        new = combos.filter(pl.col("signature_id") >= self.count).unique(
            "signature_id", keep="first", maintain_order=True
        )
        if new.height:
            self.signatures.append(new.sort("signature_id").select(list(schema.SIGNATURES)))
            self.count += new.height
        return rows.select(on).join(
            combos.select(*on, "signature_id"),
            on=on,
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )["signature_id"]

    def table(self) -> pl.DataFrame:
        """The `signatures` table (schema.SIGNATURES), by id."""
        return self.signatures.frame()
