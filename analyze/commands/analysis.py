"""An analysis to judge or compare: an existing `hotshard analyze` output, or one made on the fly.

`check` and `diff` accept either an analysis output folder (summary.json + commands/) or anything
`analyze` accepts (a capture folder, MONITOR logs); the latter is analyzed into a temporary folder
that lives as long as the `Analysis` context.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze.errors import BadInput
from hotshard.analyze.store import tables

SUMMARY_NAME = "summary.json"
DATASET_NAME = "commands"


@dataclass(frozen=True)
class Analysis:
    name: str  # what the user pointed at, for headings
    folder: Path
    summary: dict[str, Any]

    def commands(self) -> pl.LazyFrame:
        """Every command with all its attributes (`hotshard.analyze.store.tables.wide`)."""
        return tables.read(self.folder).wide()

    @property
    def duration(self) -> float:
        return float(self.summary.get("window", {}).get("duration_s") or 1.0)


def is_analysis_folder(path: Path) -> bool:
    return (path / SUMMARY_NAME).is_file() and (path / DATASET_NAME).is_dir()


@contextlib.contextmanager
def open_analysis(target: str, *, quiet: bool = True) -> Iterator[Analysis]:
    """The analysis behind `target`, analyzing it first when it is not one already."""
    path = Path(target)
    if not path.exists():
        raise BadInput(f"{target}: no such file or folder")
    if path.is_dir() and is_analysis_folder(path):
        yield Analysis(name=path.name, folder=path, summary=_summary(path))
        return
    from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze

    with tempfile.TemporaryDirectory(prefix="hotshard-") as tmp:
        out = Path(tmp) / "analysis"
        run_analyze(
            AnalyzeOptions(inputs=[target], out=str(out), sqlite=False, quiet=quiet, console=False)
        )
        yield Analysis(name=path.name, folder=out, summary=_summary(out))


def _summary(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / SUMMARY_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{folder / SUMMARY_NAME}: unreadable ({exc})") from None
