"""Charts: literal text whatever the key names, one golden per chart from a fixed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from tests.commands.test_analyze import line, write_log

MATH_KEYS = ("$$", "lock:$$", "a:$^$", "$total$")


def test_key_names_are_literal_text_in_charts(tmp_path: Path, capsys):
    """matplotlib reads `$...$` as mathtext: `$$` killed the analysis, `$total$` went italic."""
    lines = [
        line(1000.0 + i / 10, "10.0.0.1:5000", "GET", key)
        for i, key in enumerate(k for k in MATH_KEYS for _ in range(5))
    ]
    log = write_log(tmp_path / "m.log", lines)
    out = tmp_path / "out"
    assert run(["analyze", str(log), "--out", str(out), "--quiet"]) == ExitStatus.OK
    svg = (out / "charts" / "patterns.svg").read_text()
    for key in MATH_KEYS:  # each legend entry is the key as written, in the plain font
        assert f">{key}</text>" in svg, key
    assert "italic" not in svg
    assert run(["check", str(log)]) in (ExitStatus.OK, ExitStatus.ERROR)  # analyzes the log too
    assert "internal error" not in capsys.readouterr().err


CHART_GOLDEN = Path(__file__).parents[1] / "golden" / "charts"
CHART_NAMES = ("bytes_over_time", "slots", "patterns")


@pytest.mark.parametrize("name", CHART_NAMES)
def test_each_chart_matches_its_golden(name: str, tmp_path: Path, update_golden: bool):
    """Every chart from one fixed input (tests/chart_input.py), byte for byte; drawn twice the
    same. Look at a changed chart before rewriting its golden (save it as PNG)."""
    from hotshard.analyze.render import charts
    from tests import golden
    from tests.chart_input import chart_findings

    drawn = {c.name for c in charts.write(tmp_path, chart_findings())}
    assert drawn == set(CHART_NAMES)
    again = tmp_path / "again"
    again.mkdir()
    charts.write(again, chart_findings())
    svg = (tmp_path / "charts" / f"{name}.svg").read_text()
    assert svg == (again / "charts" / f"{name}.svg").read_text()
    golden.check(CHART_GOLDEN / f"{name}.svg", svg, update_golden)


def test_time_chart_says_what_and_in_which_unit(tmp_path: Path):
    """CloudWatch's unit (bytes per minute), a log axis, nodes by ElastiCache id, busiest first,
    primaries and replicas told apart, and a pattern palette no shard wears."""
    from hotshard.analyze.render import charts
    from tests.chart_input import NODES, chart_findings

    charts.write(tmp_path, chart_findings())
    svg = (tmp_path / "charts" / "bytes_over_time.svg").read_text()
    assert "in bytes per minute (CloudWatch" in svg
    assert "client bytes out per minute (log)" in svg
    labels = [svg.index(f"{node_id}  shard") for *_, node_id in NODES]
    assert labels == sorted(labels)  # legend: busiest first
    assert "shard 0001, primary" in svg and "shard 0001, replica" in svg
    assert "1.0 GB" in svg and "10.0 kB" in svg  # a log axis spans the cold and the hot node
    assert not set(charts.PATTERN_PALETTE) & set(charts.PALETTE)
    patterns = (tmp_path / "charts" / "patterns.svg").read_text()
    for colour in charts.PALETTE:
        assert colour not in patterns
