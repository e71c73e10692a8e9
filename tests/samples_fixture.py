"""The bundled sample captures (samples/), analyzed once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# Sample name -> the analyze inputs and labels that reproduce its expected results.
SAMPLE_INPUTS: dict[str, dict] = {
    "hot-zset": {"inputs": [str(SAMPLES / "hot-zset")]},
    "fixed": {"inputs": [str(SAMPLES / "fixed")]},
    "edge": {"inputs": [str(SAMPLES / "edge")]},
    "legacy": {"inputs": [str(SAMPLES / "legacy" / "monitor.log.gz")], "shard": "0001"},
}


def analyze_sample(name: str, out: Path) -> Path:
    run_analyze(AnalyzeOptions(out=str(out), quiet=True, **SAMPLE_INPUTS[name]))
    return out


@pytest.fixture(scope="session")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every sample analyzed into its own folder (hotshard.db included)."""
    root = tmp_path_factory.mktemp("samples")
    return {name: analyze_sample(name, root / name) for name in SAMPLE_INPUTS}
