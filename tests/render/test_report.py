"""report.md and summary.json: content, markdown safety, determinism, golden files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.render import markdown, report, summary
from tests import golden
from tests.frames import commands, findings, row, workload
from tests.samples_fixture import SAMPLES

GOLDEN = Path(__file__).parent.parent / "golden"
DOCS = Path(__file__).parents[2] / "docs" / "SUMMARY_SCHEMA.md"


def _golden(name: str, text: str, update: bool) -> None:
    golden.check(GOLDEN / name, text, update)


def test_report_golden(update_golden):
    f = findings(workload(), top=10, warnings=["node 10.0.0.9:6379 (shard 0004): gap of 3.0 s"])
    _golden("workload.report.md", report.render(f), update_golden)


def test_summary_golden(update_golden):
    _golden(
        "workload.summary.json",
        summary.render(findings(workload()), tool_version="0.1.0"),
        update_golden,
    )


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
    assert markdown.sparkline([0, 1, 4, 8], 8) == " ▁▄█"
    assert markdown.sparkline([5, 5], 0) == "  "
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
    data = json.loads(summary.render(findings(workload()), tool_version="0.1.0"))
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
    data = json.loads(summary.render(findings(df), tool_version="0.1.0"))
    assert data["basis"] == "commands"
    assert data["bytes"]["est_bytes_out"] is None
    assert [k["commands"] for k in data["top_keys"][:3]] == [50, 40, 30]
    assert all(k["est_bytes_out"] is None for k in data["top_keys"])


def test_summary_schema_is_documented():
    doc = DOCS.read_text()
    data = json.loads(summary.render(findings(workload()), tool_version="0.1.0"))
    for key in data:
        assert f"`{key}`" in doc, f"summary.json field {key} is not in {DOCS.name}"


# -- the first screen: which shard, why, what to do, how sure ------------------------------------
def first_screen(text: str) -> str:
    """The report down to its first section: what an SRE reads before scrolling."""
    return text.split("\n## ", 1)[0]


def _item(screen: str, label: str) -> str:
    (line,) = [ln for ln in screen.splitlines() if ln.startswith(f"- **{label}:** ")]
    return line


def _sample_node(shard: str, role: str) -> str:
    """The address of the hot-zset sample's node (ports change with every recording)."""
    m = json.loads((SAMPLES / "hot-zset" / "manifest.json").read_text())
    (node,) = [
        f"{n['host']}:{n['port']}" for n in m["nodes"] if (n["shard"], n["role"]) == (shard, role)
    ]
    return node


def test_first_screen_of_the_sample_says_cause_fix_and_confidence(analyzed):
    screen = first_screen((analyzed["hot-zset"] / "report.md").read_text())
    assert len(screen.splitlines()) <= 25
    where = _item(screen, "Where")
    hot = _sample_node("0002", "replica")
    assert "shard `0002`" in where and "MB/s" in where and f"`{hot}` (replica)" in where
    assert "`0003`" in where and "`0001`" in where  # against the siblings
    cause = _item(screen, "Cause")
    assert "key pattern `large_sortedset:app:{DATE}` makes 203.9 MB (99.8%)" in cause
    assert "command `ZREVRANGE`" in cause
    assert "top key `large_sortedset:app:2025-10-13` 71.6 MB (35.0%)" in cause
    fix = _item(screen, "Fix")
    assert "`ZREVRANGE key 0 99`" in fix and "save about 203.7 MB" in fix
    assert "99.7% of shard `0002`'s bytes out" in fix
    sure = _item(screen, "How sure")
    assert "Self-check: the estimate is within 5.0%" in sure


def test_first_screen_of_a_scenario_says_cause_fix_and_confidence():
    screen = first_screen(report.render(findings(workload(), top=10)))
    assert len(screen.splitlines()) <= 25
    assert "shard `0001`" in _item(screen, "Where")
    assert "`large_sortedset:app:2025-10-17` 50.0 MB (100.0%)" in _item(screen, "Cause")
    assert "read it in pages" in _item(screen, "Fix")
    assert "no measured figure" in _item(screen, "How sure")  # said, not hidden


def test_every_top_is_by_bytes_in_a_bytes_report(analyzed):
    """Shard 0002's commands are mostly GET, its bytes ZREVRANGE: "Top command" is ZREVRANGE."""
    text = (analyzed["hot-zset"] / "report.md").read_text()
    (row,) = [ln for ln in text.splitlines() if ln.startswith("| `0002` 🔥")]
    assert row.endswith("| `ZREVRANGE` (112, 203.9 MB) |")  # its count and bytes beside it
    summary = json.loads((analyzed["hot-zset"] / "summary.json").read_text())
    hot = next(s for s in summary["shards"] if s["shard"] == "0002")
    assert hot["top_command"] == "zrevrange"


def test_noise_is_counted_not_listed(analyzed):
    text = (analyzed["hot-zset"] / "report.md").read_text()
    large = text.split("## Large-key operations", 1)[1].split("\n## ", 1)[0]
    assert "HGETALL" not in large  # ~500 B session reads beside 5 MB ones
    assert "17 more below 1.0% of all estimated bytes out each" in large
    recs = text.split("## Recommendations", 1)[1]
    assert "\n2. " not in recs and "HGETALL" not in recs
    assert "1 more about less than 1.0% of the traffic" in recs


def test_health_agrees_with_its_counts(analyzed):
    """A plain log's `OK` line is counted as skipped: Health says so, not "every line parsed"."""
    text = (analyzed["legacy"] / "report.md").read_text()
    health = text.split("## Health", 1)[1].split("\n## ", 1)[0]
    assert "| 3,241 | 3,240 | 1 | 0 |" in health
    assert "every line parsed" not in health
    assert "Skipped: 1 line(s) that are not commands" in health
