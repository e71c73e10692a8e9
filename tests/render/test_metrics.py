"""`hotshard.prom` (analyze/render/metrics.py) parses as a Prometheus textfile and says what summary.json
says; hostile key names stay inside their label."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from hotshard.analyze.render import metrics
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_the_sample_textfile_parses_and_matches_the_summary(tmp_path):
    out = tmp_path / "a"
    assert run(["analyze", "samples/hot-zset", "--out", str(out), "--quiet"]) == ExitStatus.OK
    summary = json.loads((out / "summary.json").read_text())
    text = (out / "hotshard.prom").read_text()
    got = families(text)
    for f in text_string_to_metric_families(text):
        assert f.type == "gauge" and f.documentation
    nodes = {
        (s.labels["node"], s.labels["source"]): s.value for s in got["hotshard_node_out_bytes"]
    }
    for n in summary["nodes"]:
        assert nodes[(n["node"], "estimated")] == n["est_bytes_out"]
        assert nodes[(n["node"], "measured")] == n["measured_bytes_out"]
    shards = {
        (s.labels["shard"], s.labels["source"]): s.value for s in got["hotshard_shard_out_bytes"]
    }
    for s in summary["shards"]:
        assert shards[(s["shard"], "estimated")] == s["est_bytes_out"]
    (skew,) = got["hotshard_skew_ratio"]
    assert skew.value == summary["hot_shard"]["skew_ratio"] and skew.labels["shard"] == "0002"
    assert got["hotshard_balance_score"][0].value == summary["balance_score"]
    ratios = {s.labels["node"]: s.value for s in got["hotshard_self_check_ratio"]}
    assert ratios == {c["node"]: c["ratio"] for c in summary["self_check"]["nodes"]}
    keys = got["hotshard_top_key_out_bytes"]
    assert [s.labels["rank"] for s in keys] == [str(i) for i in range(1, metrics.TOP + 1)]
    assert keys[0].labels["key"] == summary["top_keys"][0]["key"]
    assert (
        got["hotshard_top_pattern_out_bytes"][0].labels["pattern"] == "large_sortedset:app:{DATE}"
    )
    assert got["hotshard_window_seconds"][0].value == summary["window"]["duration_s"]


def test_label_values_are_escaped_and_bounded():
    key = 'we"ird\\key\nwith a newline' + "x" * 500
    summary = {
        "top_keys": [{"key": key, "shard": "0001", "est_bytes_out": 5}],
        "top_patterns": [{"pattern": f"p{i}", "est_bytes_out": i} for i in range(50)],
        "balance_score": None,
    }
    got = families(metrics.from_summary(summary))
    (sample,) = got["hotshard_top_key_out_bytes"]
    assert sample.labels["key"].startswith('we"ird\\key\nwith a newline')
    assert len(sample.labels["key"]) == metrics.LABEL_LIMIT
    assert len(got["hotshard_top_pattern_out_bytes"]) == metrics.TOP  # bounded cardinality
    assert "hotshard_balance_score" not in got  # unknown is absent, never 0
