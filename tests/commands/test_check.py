"""`hotshard check`: the default rules fail the incident sample and pass the fixed one."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hotshard.analyze.commands import check_rules
from hotshard.analyze.commands.analysis import open_analysis
from hotshard.analyze.errors import BadRules
from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.commands.test_analyze import line, write_log


def test_hot_zset_breaks_default_rules_naming_key_command_shard(analyzed, capsys, tmp_path):
    junit = tmp_path / "check.xml"
    status = run(["check", str(analyzed["hot-zset"]), "--junit", str(junit)])
    out = capsys.readouterr()
    assert status == ExitStatus.ERROR
    assert "full_range_read" in out.err
    report = out.out
    assert report.startswith("## hotshard check:")
    full = report.split("### `full_range_read`")[1].split("###")[0]
    assert "`ZREVRANGE large_sortedset:app:2025-10-17 0 -1 WITHSCORES`" in full
    assert "100,000 members" in full
    assert "shard 0002" in full
    assert "pattern `large_sortedset:app:{DATE}`" in report
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == str(len(suite.findall("testcase/failure")))
    failed = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
    assert {"full_range_read", "pattern_share", "shard_skew"} <= failed
    assert "forbidden_commands" not in failed


def test_fixed_passes_default_rules(analyzed, capsys):
    status = run(["check", str(analyzed["fixed"])])
    out = capsys.readouterr().out
    assert status == ExitStatus.OK, out
    assert "all 7 rule(s) pass" in out


def test_check_accepts_a_capture_folder_and_keeps_stdout_markdown(capsys):
    status = run(["check", str(Path(__file__).parents[2] / "samples" / "fixed")])
    out = capsys.readouterr().out
    assert status == ExitStatus.OK
    assert out.startswith("## hotshard check:")


def test_forbidden_command_and_key_rate(tmp_path, capsys):
    lines = [line(1000.0 + i / 100, "10.0.0.1:5000", "GET", "hot") for i in range(300)]
    lines.append(line(1003.0, "10.0.0.2:6000", "KEYS", "*"))
    log = write_log(tmp_path / "m.log", lines)
    rules = tmp_path / "rules.toml"
    rules.write_text('[forbidden_commands]\ncommands = ["KEYS"]\n[key_rate]\nmax_ops_per_s = 50\n')
    status = run(["check", str(log), "--rules", str(rules)])
    out = capsys.readouterr().out
    assert status == ExitStatus.ERROR
    assert "`KEYS` ran 1× on shard" in out
    assert "key `hot` on shard" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nonsense]\nx = 1\n", "unknown rule [nonsense]"),
        ("[shard_skew]\nmax_ration = 2\n", "unknown setting(s) max_ration"),
        ("[shard_skew\n", "not valid TOML"),
    ],
)
def test_bad_rules_file_is_a_usage_error(tmp_path, text, message, capsys):
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    with pytest.raises(
        BadRules, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        check_rules.load_rules(str(rules))
    assert run(["check", "samples/fixed", "--rules", str(rules)]) == ExitStatus.USAGE
    assert message.split(" ")[0] in capsys.readouterr().err


def test_missing_target_is_a_usage_error(capsys):
    assert run(["check", "/nonexistent/capture"]) == ExitStatus.USAGE
    assert "no such file" in capsys.readouterr().err


def test_default_rules_load_and_cover_every_rule():
    assert set(check_rules.load_rules(None)) == set(check_rules.RULES)


def test_thresholds_are_honoured(analyzed):
    with open_analysis(str(analyzed["hot-zset"])) as a:
        lenient = check_rules.evaluate(
            a, {"shard_skew": {"max_ratio": 1e9}, "full_range_read": {"max_members": 10**6}}
        )
        strict = check_rules.evaluate(a, {"shard_skew": {"max_ratio": 1.0}})
    assert all(r.ok for r in lenient)
    assert not strict[0].ok


def test_estimate_accuracy_names_the_node_the_model_does_not_explain(analyzed, capsys):
    """samples/edge: scripts and Pub/Sub the model leaves unsized — its one node is off."""
    summary = json.loads((analyzed["edge"] / "summary.json").read_text())
    (node,) = summary["self_check"]["nodes"]
    assert node["ratio"] < 0.95  # the premise: off by more than the default 5%
    with open_analysis(str(analyzed["edge"])) as a:
        (broken,) = check_rules.evaluate(a, {"estimate_accuracy": {}})
        (loose,) = check_rules.evaluate(a, {"estimate_accuracy": {"max_error": 0.5}})
        (tiny,) = check_rules.evaluate(a, {"estimate_accuracy": {"min_share": 1.01}})
    assert [v.subject for v in broken.violations] == [node["node"]]
    assert f"{node['ratio']:.3f}×" in broken.violations[0].message
    assert "unexplained" in broken.violations[0].message
    assert loose.ok and tiny.ok  # within 50%; or above every node's share


def test_estimate_accuracy_is_not_judged_on_plain_logs_saying_why(analyzed):
    with open_analysis(str(analyzed["legacy"])) as a:
        (result,) = check_rules.evaluate(a, {"estimate_accuracy": {}})
    assert result.ok and not result.passed  # nothing broken, nothing judged either
    assert "nothing measured to compare" in (result.unjudged or "")


def test_balance_score_is_in_the_summary_and_gates(analyzed):
    with open_analysis(str(analyzed["hot-zset"])) as a:
        score = a.summary["balance_score"]
        shards = [s["est_bytes_out"] for s in a.summary["shards"]]
        assert score == pytest.approx(max(shards) / (sum(shards) / len(shards)) - 1, rel=1e-5)
        assert 1.9 < score <= 2.0  # one of three shards carries almost everything
        strict = check_rules.evaluate(a, {"balance": {"max_score": 1.0}})
        lenient = check_rules.evaluate(a, {"balance": {"max_score": 2.0}})
    assert not strict[0].ok and "balance score 1.99" in strict[0].violations[0].message
    assert lenient[0].ok
    with open_analysis(str(analyzed["fixed"])) as a:
        assert check_rules.evaluate(a, {"balance": {}})[0].ok
