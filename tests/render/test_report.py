"""report.md and summary.json: content, markdown safety, determinism, golden files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.render import report, summary
from tests import golden
from tests.frames import commands, findings, row, workload

GOLDEN = Path(__file__).parent.parent / "golden"
DOCS = Path(__file__).parents[2] / "docs" / "SUMMARY_SCHEMA.md"


def _golden(name: str, text: str, update: bool) -> None:
    golden.check(GOLDEN / name, text, update)


def test_report_golden(update_golden):
    f = findings(workload(), top=10, warnings=["node 10.0.0.9:6379 (shard 0004): gap of 3.0 s"])
    _golden("workload.report.md", report.render(f), update_golden)


def test_summary_golden(update_golden):
    _golden("workload.summary.json", summary.render(findings(workload()), "0.1.0"), update_golden)


def test_report_sections_and_verdict():
    text = report.render(findings(workload(), top=5))
    assert text.startswith("# hotshard report\n\n**Shard 0001 is hot: ")
    for title in (
        "Capture",
        "Health",
        "Shards",
        "Load over time",
        "Top keys",
        "Top key patterns",
        "Top command signatures",
        "Heavy clients",
        "Large-key operations (whole-value reads)",
        "Recommendations",
    ):
        assert f"\n## {title}\n" in text
    assert "`ZREVRANGE \\| large_sortedset:app:{DATE} \\| 0 -1`" in text
    assert "4 replicated writes, 2 script sub-commands" in text
    # No machine paths, no wall-clock time.
    assert "/tmp" not in text and "/home" not in text


def test_report_is_byte_identical_for_shuffled_input():
    df = workload()
    a = report.render(findings(df))
    b = report.render(findings(df.sample(fraction=1.0, shuffle=True, seed=3)))
    assert a == b


def test_sparkline_scale():
    assert report.sparkline([0, 1, 4, 8], 8) == " ▁▄█"
    assert report.sparkline([5, 5], 0) == "  "
    text = report.render(findings(workload()))
    chart = text.split("```text\n", 1)[1].split("```", 1)[0]
    assert [line.split(" ", 1)[0] for line in chart.splitlines()] == ["0001", "0002", "0003"]


def test_awkward_keys_cannot_break_the_page():
    keys = ["a|b", "back`tick", "new\nline", "`edge`", "  ", "x" * 300]
    df = commands([row(key=k, shard="0001", ts=1_700_000_000.0 + i) for i, k in enumerate(keys)])
    text = report.render(findings(df))
    table = text.split("## Top keys\n\n", 1)[1].split("\n\n", 1)[0]
    lines = table.splitlines()
    assert len(lines) == 2 + len(keys)  # header, rule, one line per key: nothing broke a row
    # Every row has the same number of unescaped cell separators as the header.
    cells = [len(re.findall(r"(?<!\\)\|", line)) for line in lines]
    assert len(set(cells)) == 1
    assert "``back`tick``" in table and "`new\\nline`" in table and "…" in table


def test_code_span():
    assert humanize.code("plain") == "`plain`"
    assert humanize.code("a`b") == "``a`b``"
    assert humanize.code("`x`") == "`` `x` ``"
    assert humanize.code(None) == "—"


def test_summary_required_fields():
    data = json.loads(summary.render(findings(workload()), "0.1.0"))
    assert data["schema_version"] == summary.SCHEMA_VERSION
    assert data["lines"] == {
        "total": 184,
        "parsed": 181,
        "skipped": 3,
        "errors": 0,
        "truncated_files": 0,
    }
    assert data["basis"] == "bytes"
    assert data["hot_shard"]["shard"] == "0001" and data["hot_shard"]["status"] == "hot"
    node = data["nodes"][0]
    assert set(node) >= {"node", "shard", "role", "commands", "est_bytes_out", "measured_bytes_out"}
    assert node["measured_bytes_out"] is None  # not known for plain logs
    top = data["top_keys"][0]
    assert (top["key"], top["shard"], top["commands"], top["est_bytes_out"]) == (
        "large_sortedset:app:2025-10-17",
        "0001",
        50,
        50_000_000,
    )
    assert [s["shard"] for s in data["shards"]] == ["0001", "0002", "0003"]


def test_summary_without_bytes_ranks_by_count_with_nulls():
    df = workload().with_columns(reply_bytes=pl.lit(None, pl.Int64))
    data = json.loads(summary.render(findings(df), "0.1.0"))
    assert data["basis"] == "commands"
    assert data["bytes"]["est_bytes_out"] is None
    assert [k["commands"] for k in data["top_keys"][:3]] == [50, 40, 30]
    assert all(k["est_bytes_out"] is None for k in data["top_keys"])


def test_summary_schema_is_documented():
    doc = DOCS.read_text()
    data = json.loads(summary.render(findings(workload()), "0.1.0"))
    for key in data:
        assert f"`{key}`" in doc, f"summary.json field {key} is not in {DOCS.name}"
