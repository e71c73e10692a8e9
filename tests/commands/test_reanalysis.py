"""Archived captures stay readable: an older manifest version analyzes with today's hotshard."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.capture.format import manifest as mf

V1 = Path(__file__).parent.parent / "data" / "capture-v1"  # samples/edge as format 1 wrote it


def test_v1_fixture_really_is_v1():
    raw = json.loads((V1 / mf.MANIFEST_NAME).read_text())
    assert raw["format_version"] == 1 < mf.FORMAT_VERSION
    assert all("health" not in n for n in raw["nodes"])


def test_v1_manifest_upgrades():
    m = mf.read(V1)
    assert m.format_version == mf.FORMAT_VERSION
    assert [n.health for n in m.nodes] == [None] * len(m.nodes)
    assert m.node(m.nodes[0].node).monitored


def test_v1_capture_analyzes_like_the_same_capture_today(tmp_path: Path, analyzed):
    out = tmp_path / "v1"
    run_analyze(AnalyzeOptions(inputs=[str(V1)], out=str(out), quiet=True, sqlite=False))
    old = json.loads((out / "summary.json").read_text())
    new = json.loads((analyzed["edge"] / "summary.json").read_text())
    assert old["lines"] == new["lines"]
    assert old["commands"] == new["commands"]
    # v1 key sizes lack the bulk averages, so byte estimates (and the ranking) may differ a little;
    # the keys seen may not.
    assert sorted(k["key"] for k in old["top_keys"]) == sorted(k["key"] for k in new["top_keys"])
    cols = ["ts", "command", "key_name", "client", "origin"]
    a = pl.scan_parquet(out / "commands" / "**" / "*.parquet").select(cols).sort(cols).collect()
    b = (
        pl.scan_parquet(analyzed["edge"] / "commands" / "**" / "*.parquet")
        .select(cols)
        .sort(cols)
        .collect()
    )
    assert a.equals(b)
