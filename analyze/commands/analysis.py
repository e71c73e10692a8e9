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
from hotshard.analyze.render import redact
from hotshard.analyze.render.redact import Redactor
from hotshard.analyze.store import tables
from hotshard.analyze.store.outfolder import COMMANDS_DIR, SUMMARY_NAME


@dataclass(frozen=True)
class Analysis:
    name: str  # what the user pointed at, for headings
    folder: Path
    summary: dict[str, Any]
    redactor: Redactor | None = (
        None  # --redact: keys, clients and nodes as tags (analyze/render/redact.py)
    )

    def commands(self) -> pl.LazyFrame:
        """Every command with all its attributes (`hotshard.analyze.store.tables.wide`), redacted with --redact."""
        wide = tables.read(self.folder).wide()
        if self.redactor is None:
            return wide
        return redact.frame(self.redactor, wide.collect()).lazy()

    def key_names(self, keys: pl.DataFrame, column: str = "key_name") -> pl.DataFrame:
        """A frame of other key-named rows (sampled sizes) named as `commands()` names them."""
        if self.redactor is None or keys.is_empty():
            return keys
        patterns = (
            tables.read(self.folder)
            .wide()
            .select("key_name", "key_pattern")
            .unique()
            .drop_nulls("key_name")
            .collect()
        )
        names = {k: self.redactor.key(k, p) for k, p in patterns.sort("key_name").iter_rows()}
        return keys.filter(pl.col(column).is_in(list(names))).with_columns(
            pl.col(column).replace_strict(names, return_dtype=pl.String)
        )

    @property
    def duration(self) -> float:
        return float(self.summary.get("window", {}).get("duration_s") or 1.0)


def is_analysis_folder(path: Path) -> bool:
    return (path / SUMMARY_NAME).is_file() and (path / COMMANDS_DIR).is_dir()


@contextlib.contextmanager
def open_analysis(
    target: str, *, quiet: bool = True, redactor: Redactor | None = None
) -> Iterator[Analysis]:
    """The analysis behind `target`, analyzing it first when it is not one already (into a
    private temporary folder: with `redactor`, only what is read from it is redacted)."""
    path = Path(target)
    if not path.exists():
        raise BadInput(f"{target}: no such file or folder")
    if path.is_dir() and is_analysis_folder(path):
        try:
            yield Analysis(path.name, path, _redacted(_summary(path), redactor), redactor)
        except _DAMAGE as exc:  # a summary.json with wrong types, junk Parquet files
            raise BadInput(
                f"{target}: a damaged analysis folder ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'}) — run hotshard "
                "analyze again"
            ) from None
        return
    from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze

    with tempfile.TemporaryDirectory(prefix="hotshard-") as tmp:
        out = Path(tmp) / "analysis"
        run_analyze(
            AnalyzeOptions(inputs=[target], out=str(out), sqlite=False, quiet=quiet, console=False)
        )
        yield Analysis(path.name, out, _redacted(_summary(out), redactor), redactor)


def _redacted(summary: dict[str, Any], red: Redactor | None) -> dict[str, Any]:
    """The summary's node addresses as the redactor names them (the rules quote nodes)."""
    if red is None:
        return summary
    nodes = [n for n in summary.get("nodes") or [] if isinstance(n, dict)]
    red.learn_nodes(
        ((str(n.get("node")), str(n.get("shard")), str(n.get("role"))) for n in nodes), {}
    )
    check = summary.get("self_check")
    if isinstance(check, dict) and isinstance(check.get("nodes"), list):
        check = {
            **check,
            "nodes": [
                {**n, "node": red.node(str(n.get("node")))} if isinstance(n, dict) else n
                for n in check["nodes"]
            ],
        }
        check["text"] = red.text(str(check.get("text", "")))
    return {**summary, "nodes": [{**n, "node": red.node(str(n.get("node")))} for n in nodes],
            "self_check": check}  # fmt: skip


# What reading an analysis someone damaged raises (the rules and the diff read it as written).
_DAMAGE = (pl.exceptions.PolarsError, OSError, KeyError, TypeError, AttributeError, ValueError)


def _summary(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / SUMMARY_NAME).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{folder / SUMMARY_NAME}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise BadInput(
            f"{folder / SUMMARY_NAME}: not a hotshard summary (a JSON {type(data).__name__})"
        )
    return data
