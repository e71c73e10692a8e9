"""Every distinct key and command signature of an analysis, each worked out once and given an id.

A MONITOR capture names the same keys over and over (a hot key is the same key a million times)
or, in cache and session traffic, millions of keys once each. Either way, a key's text, exact
bytes, slot, pattern and sampled size depend on the key alone, so they are computed once, the
first time the key is seen, and every row only carries the key's integer id.

Key ids come from the native core (`scanner.KeyIds`: the keys as quoted, back to back in one
buffer, and a hash table of ids), which unquotes, slots and patterns each new key once (the rules
applied as Polars' `str.replace_all` applies them) and finds it and its pattern among the sampled
keys and patterns; what the rows need of a key is kept there and handed per row. Signature ids
come from a Polars `Categories` mapping (`Mapping`). Ids are assigned in file order, so in order
of first appearance: the same for the same input. Memory grows with the number of distinct keys
(docs/BENCHMARKS.md gives the cost per key), never with the number of lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate import replies
from hotshard.analyze.keys import patterns
from hotshard.analyze.read import scanner


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
    """The distinct first keys seen so far: id -> text, bytes, slot, pattern, sampled size, all
    held in the native core (`scanner.KeyIds`)."""

    def __init__(self, rules: Sequence[patterns.Rule], lookup: replies.Lookup) -> None:
        self.rules = tuple(rules)
        self.native = scanner.KeyIds(
            [(r.match, r.replace, r.needs) for r in self.rules],
            lookup.key_enum.categories.to_list(),
            lookup.pattern_enum.categories.to_list(),
        )
        self.patterns: list[str] = []  # pattern text by pattern id

    @property
    def count(self) -> int:
        """How many distinct keys so far."""
        return len(self.native)

    def ids(self, raw: pl.Series) -> pl.Series:
        """The id of each key of `raw` (keys as quoted in MONITOR; null: no key), registering
        the keys not seen before."""
        key_id, new_patterns = self.native.ids(raw)
        self.patterns.extend(new_patterns)
        return key_id

    def attributes(self, key_id: pl.Series) -> pl.DataFrame:
        """Per row, the attributes of its key, null where there is none: `_key_text` (the key's
        text where it differs from the key as quoted: escapes), `_key_len` (bytes),
        `_pattern_id`, and its sampled size (`replies.Lookup.key_columns`: `_key_sz`,
        `_key_own`, `_key_pim`)."""
        return self.native.attributes(key_id).select(
            _key_text="text",
            _key_len="length",
            _pattern_id="pattern_id",
            _key_sz="size",
            _key_own="own",
            _key_pim="pattern_row",
        )

    def pattern_names(self, pattern_id: pl.Series) -> pl.Series:
        return pl.Series(self.patterns, dtype=pl.String).gather(pattern_id)

    def table(self) -> pl.DataFrame:
        """The `keys` table (schema.KEYS), by id."""
        frame = self.native.table()
        return frame.with_columns(key_pattern=self.pattern_names(frame["pattern_id"])).select(
            list(schema.KEYS)
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
