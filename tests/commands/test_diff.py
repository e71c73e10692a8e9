"""`hotshard diff`: the incident and its fix, per shard, pattern and signature."""

from __future__ import annotations

import json

import polars as pl

from hotshard.analyze.commands import diff
from hotshard.analyze.commands.analysis import open_analysis
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus


def test_hot_shard_bytes_fall_by_the_expected_share(analyzed):
    with (
        open_analysis(str(analyzed["hot-zset"])) as before,
        open_analysis(str(analyzed["fixed"])) as after,
    ):
        tables = diff.diff(before, after)
        hot = before.summary["hot_shard"]["shard"]
        # Expected from the data itself: the full reads' bytes/s leave, the top-100 reads' arrive.
        b = before.commands().filter(pl.col("origin") == "client", pl.col("shard") == hot)
        a = after.commands().filter(pl.col("origin") == "client", pl.col("shard") == hot)
        b_total = b.select(pl.col("reply_bytes").sum()).collect().item() / before.duration
        a_total = a.select(pl.col("reply_bytes").sum()).collect().item() / after.duration
    (row,) = tables["shard"].filter(pl.col("name") == hot).rows(named=True)
    change = row["bytes_s_after"] / row["bytes_s_before"] - 1
    assert abs(change - (a_total / b_total - 1)) < 1e-9
    assert change < -0.9  # the fix removes >90% of the hot shard's bytes out
    shards = tables["shard"]
    assert shards["name"][0] == hot  # biggest change first
    sig = tables["signature"]
    assert sig["name"][0] == "ZREVRANGE | large_sortedset:app:{DATE} | 0 -1 WITHSCORES"
    assert sig["bytes_s_after"][0] == 0


def test_compare_sorts_by_change_with_tie_breakers():
    before = pl.DataFrame(
        {"name": ["a", "b", "c"], "ops_s": [1.0, 1.0, 1.0], "bytes_s": [10.0, 10.0, 5.0]}
    )
    after = pl.DataFrame(
        {"name": ["b", "a", "d"], "ops_s": [1.0, 1.0, 2.0], "bytes_s": [0.0, 0.0, 10.0]}
    )
    out = diff.compare(before, after)
    # a, b and d all moved 10 bytes/s; d also moved 2 ops/s, so it leads; a before b by name.
    assert out["name"].to_list() == ["d", "a", "b", "c"]
    assert out.filter(pl.col("name") == "d")["bytes_s_before"][0] == 0.0


def test_cli_diff_prints_markdown(analyzed, capsys, tmp_path):
    out_file = tmp_path / "diff.md"
    status = run(
        ["diff", str(analyzed["hot-zset"]), str(analyzed["fixed"]), "--out", str(out_file)]
    )
    out = capsys.readouterr().out
    assert status == ExitStatus.OK
    assert out.startswith("# hotshard diff:")
    assert "## Shards" in out and "## Key patterns" in out and "## Command signatures" in out
    assert out_file.read_text() == out
    # Deterministic: the same comparison prints the same bytes.
    run(["diff", str(analyzed["hot-zset"]), str(analyzed["fixed"])])
    assert capsys.readouterr().out == out
    assert (
        json.loads((analyzed["fixed"] / "summary.json").read_text())["hot_shard"]["status"] != "hot"
    )
