"""How a chart is drawn and saved, whatever it shows: matplotlib's settings for byte-identical
SVG, the palettes, the byte axis, the legend beside the plot, and the `Chart` (file and alt
text) each drawing hands on. The charts themselves are in charts.py.

Determinism: no pyplot state (a `Figure` per chart), `svg.hashsalt` fixed (element ids),
`svg.fonttype` "none" (text stays text: no glyph paths that depend on the fonts installed), no
Date/Creator metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotshard.analyze import humanize
from hotshard.analyze.store.outfolder import CHARTS_DIR

if TYPE_CHECKING:
    from hotshard.analyze.findings.found import Findings

RC: dict[str, Any] = {
    "svg.hashsalt": "hotshard",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "path.simplify": False,
    # Key names are text, never mathtext: `$$` would raise and `$total$` turn italic.
    "text.parse_math": False,
}
METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


# Key patterns get their own palette, ranked dark (largest) to light, so no pattern wears a
# shard's colour from the other charts.
PATTERN_PALETTE = (
    "#1b1b4b",
    "#3f3d8f",
    "#6a51a3",
    "#807dba",
    "#9e9ac8",
    "#bcbddc",
    "#d4d3e8",
    "#e8e6f2",
)


@dataclass(frozen=True)
class Chart:
    name: str
    path: str  # relative to the output folder, e.g. "charts/bytes_over_time.svg"
    alt: str  # the image's alt text: what it shows, in words

    def markdown(self) -> str:
        alt = self.alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"![{alt}]({self.path})"


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def bytes_axis(ax: Any, per_second: bool) -> None:
    from matplotlib.ticker import FuncFormatter

    unit = "/s" if per_second else ""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{humanize.size(v)}{unit}"))


def measure(column: str) -> str:
    """What the rank column counts, in words."""
    return "estimated bytes out" if column == "est_bytes_out" else "client commands"


def legend(ax: Any, top: float = 1.0, **options: Any) -> Any:
    """A small legend outside the plot, to its right, its top at `top` (axes fraction)."""
    return ax.legend(
        fontsize=7, loc="upper left", bbox_to_anchor=(1.01, top), frameon=False, **options
    )


def save(fig: Any, folder: Path, name: str, alt: str) -> Chart:
    """Write the figure as `folder/<name>.svg` and return it as a Chart with its alt text."""
    fig.savefig(folder / f"{name}.svg", format="svg", metadata=METADATA, bbox_inches="tight")
    return Chart(name, f"{CHARTS_DIR}/{name}.svg", alt)


def shard_colours(f: Findings) -> dict[str, str]:
    shards = sorted(set(f.rollups.shards["shard"].to_list()))
    return {s: colour(i) for i, s in enumerate(shards)}
