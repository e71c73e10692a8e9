"""The samples' expected results: analyzing them again gives the committed summary and report.

`just update-golden` (pytest --update-golden) rewrites samples/*/expected/ from the current code;
review that diff like code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import golden
from tests.samples_fixture import SAMPLE_INPUTS, SAMPLES, analyze_sample

GOLDEN_FILES = ("summary.json", "report.md")
CHARTS = ("charts/bytes_over_time.svg", "charts/slots.svg", "charts/patterns.svg")
# The chart the README shows: the hot-zset sample's, kept in step like the golden files.
README_CHART = SAMPLES.parent / "docs" / "hot-zset-slots.svg"


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_sample_matches_expected(name: str, analyzed: dict[str, Path], update_golden: bool):
    expected = SAMPLES / name / "expected"
    if update_golden:
        for f in GOLDEN_FILES:
            expected.mkdir(exist_ok=True)
            shutil.copyfile(analyzed[name] / f, expected / f)
        pytest.skip("golden files rewritten")
    for f in GOLDEN_FILES:
        golden.check(expected / f, (analyzed[name] / f).read_text(), update=False)


def test_reanalysis_is_byte_identical(analyzed: dict[str, Path], tmp_path: Path):
    """An archived capture analyzed twice gives the same bytes (deterministic outputs)."""
    again = analyze_sample("hot-zset", tmp_path / "again")
    for f in (*GOLDEN_FILES, *CHARTS):
        assert (again / f).read_bytes() == (analyzed["hot-zset"] / f).read_bytes(), f


def test_readme_chart_is_the_samples(analyzed: dict[str, Path], update_golden: bool):
    chart = analyzed["hot-zset"] / "charts" / "slots.svg"
    if update_golden:
        shutil.copyfile(chart, README_CHART)
        pytest.skip("README chart rewritten")
    assert README_CHART.read_bytes() == chart.read_bytes(), "just update-golden?"
    assert (
        f"]({README_CHART.relative_to(SAMPLES.parent)})"
        in (SAMPLES.parent / "README.md").read_text()
    )


def test_a_missing_golden_fails(tmp_path: Path):
    """Only --update-golden writes a golden: a missing one is a failure, not a free pass."""
    with pytest.raises(pytest.fail.Exception, match="missing"):
        golden.check(tmp_path / "none.md", "text", update=False)
    assert not (tmp_path / "none.md").exists()
