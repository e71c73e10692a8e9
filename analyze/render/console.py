"""What the terminal shows: progress and warnings on stderr, the short summary on stdout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.render import timeline
from hotshard.analyze.store import outfolder


class Progress:
    """Progress lines on stderr with the seconds since the start; silent with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"hotshard: [{time.perf_counter() - self.t0:6.1f}s] {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        """Shown even with --quiet: something about the input the user must know."""
        print(f"hotshard: warning: {humanize.printable(message)}", file=sys.stderr)


def summary(f: Findings, out: Path, files: dict[str, Path]) -> str:
    """The short summary of an analysis written to `out` (`files`: output name -> path)."""
    t = f.rollups.totals
    lines = f.lines()
    nodes = len({s for s in f.line_stats["source"].to_list()}) if f.line_stats.height else 0
    text = [
        f"hotshard: {humanize.count(t.rows)} commands from {nodes} source(s) "
        f"({humanize.count(lines['total'])} lines, {humanize.count(lines['errors'])} unparsable), "
        f"{humanize.duration(f.rollups.duration)}",
        f.verdict.text,
    ]
    hk = f.rollups.hot_keys
    if hk.height:
        k = hk.row(0, named=True)
        amount = humanize.size(k["est_bytes_out"]) if f.rollups.basis == "bytes" else None
        extra = f", {amount}" if amount else ""
        text.append(
            f"Top key: {humanize.printable(k['key_name'])} (shard {k['shard']}, "
            f"{humanize.count(k['commands'])} commands{extra})"
        )
    if line := timeline.console_line(f):
        text.append(line)
    if f.recommendations:
        text.append(f"{len(f.recommendations)} recommendation(s) in the report.")
    text.append(f"Report:   {out / outfolder.REPORT_NAME}")
    text.append(f"Summary:  {out / outfolder.SUMMARY_NAME}")
    if "commands" in files:
        text.append(f"Parquet:  {out / outfolder.COMMANDS_DIR}/")
    if f.redaction:
        text.append("Redacted: keys as pattern#tag, hosts as host#tag; no commands table kept.")
    if "sqlite" in files:
        text.append(f'Database: {out / outfolder.DB_NAME}  (hotshard query "SQL" --db {out})')
    return "\n".join(text)
