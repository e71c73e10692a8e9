"""PerDistinct: a function of a column computed once per distinct value across batches."""

from __future__ import annotations

import polars as pl

from analyze.distinct import PerDistinct


class Counting:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, distinct: pl.Series) -> pl.Series:
        self.seen += distinct.to_list()
        return distinct.str.to_uppercase()


def test_values_are_computed_once_across_batches_and_nulls_stay_null():
    fn = Counting()
    per = PerDistinct(fn, pl.String())
    first = per(pl.Series(["a", "b", None, "a"]))
    second = per(pl.Series(["b", "c", "a", None]))
    assert first.to_list() == ["A", "B", None, "A"]
    assert second.to_list() == ["B", "C", "A", None]
    assert sorted(fn.seen) == ["a", "b", "c"]


def test_past_the_limit_new_values_are_computed_every_time_but_still_right():
    fn = Counting()
    per = PerDistinct(fn, pl.String(), limit=1)
    assert per(pl.Series(["a", "b"])).to_list() == ["A", "B"]  # both fit the first call's room
    assert per(pl.Series(["c", "a"])).to_list() == ["C", "A"]
    assert per(pl.Series(["c"])).to_list() == ["C"]
    assert sorted(fn.seen) == ["a", "b", "c", "c"]  # `c` came after the limit: not remembered


def test_empty_and_all_null_batches():
    per = PerDistinct(Counting(), pl.String())
    assert per(pl.Series([], dtype=pl.String)).to_list() == []
    assert per(pl.Series([None, None], dtype=pl.String)).to_list() == [None, None]
