"""Reply combinations: what a row's reply and signature depend on, worked out once per analysis.

A reply depends on the tail's class (its command, argument shape and reply features: `_class`,
a hash of them, rows/make.py `_tails`), the key's pattern and sampled size, and who sent it
(`COMBO`). A capture repeats few combinations: the same GET of the same pattern from the same
kind of client, chunk after chunk. `Combos` keeps every combination seen with its reply,
signature and read kind, so each chunk models only the ones it is the first to show.
"""

from __future__ import annotations

import polars as pl

from hotshard.analyze.estimate import cardinality, replies
from hotshard.analyze.rows.ids import KeyDictionary, SignatureDictionary

# What a reply and a signature depend on.
COMBO = ["_class", "_pattern_id", "_key_sz", "_key_own", "_key_pim", "_client", "_resp3"]


class Combos:
    """Every reply combination of the analysis so far (`_combo`, the hash of `COMBO`) with
    what `_results` gives it. Grows with the distinct combinations, never with rows."""

    def __init__(self) -> None:
        self.known: pl.DataFrame | None = None

    def of(
        self,
        per_row: pl.DataFrame,
        tail: pl.DataFrame,
        lookup: replies.Lookup,
        keys: KeyDictionary,
        signatures: SignatureDictionary,
    ) -> pl.DataFrame:
        """Per distinct combination of the chunk (`_combo` added to `per_row` in place): its
        signature id and reply, the new ones modelled (in order of first appearance, so the
        signature ids are those a model of every combination would give)."""
        per_row.insert_column(
            per_row.width, per_row.select(_combo=pl.struct(COMBO).hash())["_combo"]
        )
        # The first row of each combination stands for it: every tail of a class has its
        # features.
        combos = per_row.select("_combo", "_tail", *COMBO).unique("_combo", maintain_order=True)
        if combos.select(COMBO).n_unique() != combos.height:  # a 64-bit collision: never seen
            raise AssertionError("hash collision between reply combinations")
        new = combos
        if self.known is not None:
            seen = combos.join(self.known.select("_combo", *COMBO), on="_combo", how="inner")
            same = pl.all_horizontal(pl.col(c).eq_missing(pl.col(f"{c}_right")) for c in COMBO)
            if not seen.select(same.all()).item():
                raise AssertionError("hash collision between reply combinations")
            new = combos.join(self.known.select("_combo"), on="_combo", how="anti")
            new = new.select(combos.columns)  # `anti` keeps the left order
        if new.height:
            found = pl.concat(
                [new.select("_combo", *COMBO), _results(new, tail, lookup, keys, signatures)],
                how="horizontal",
            )
            self.known = found if self.known is None else pl.concat([self.known, found])
        assert self.known is not None
        return combos.select("_combo").join(
            self.known.drop(COMBO), on="_combo", how="left", maintain_order="left"
        )


def _results(
    combos: pl.DataFrame,
    tail: pl.DataFrame,
    lookup: replies.Lookup,
    keys: KeyDictionary,
    signatures: SignatureDictionary,
) -> pl.DataFrame:
    """Per combination (`_tail`: a row of `tail` that shows it): reply, the reply a script's
    `redis.call` would have had as a client (`_as_client`), signature id and read kind."""
    features = tail.select("command", "arg_shape", pl.col("^_f_.*$")).select(
        pl.all().gather(combos["_tail"])
    )
    combos = pl.concat([combos, features], how="horizontal").with_columns(
        _f_client=pl.col("_client"),
        _f_own=pl.col("_key_own").fill_null(False),
        _f_sz=pl.col("_key_sz"),
        _f_pim=pl.when(pl.col("command") == "mget").then(pl.col("_key_pim")),
        _f_resp3=pl.col("_resp3"),
    )
    replies_ = lookup.estimate_combos(combos)
    # What a script's `redis.call` would have replied to a client (analyze/estimate/scripts.py).
    as_client = pl.Series("_as_client", [None] * combos.height, dtype=pl.Int64)
    inside = combos.with_row_index("_i").filter(~pl.col("_client"))
    if inside.height:
        modelled = lookup.estimate_combos(inside.drop("_i").with_columns(_f_client=True))
        as_client = as_client.scatter(inside["_i"], modelled["reply_bytes"])
    signature_id = signatures.ids(combos, keys)
    reads = cardinality.read_columns(combos)  # which replies scale with the cardinality
    return pl.concat(
        [replies_, as_client.to_frame(), signature_id.to_frame(), reads], how="horizontal"
    )
