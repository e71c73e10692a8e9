"""Charts next to report.md (`charts/*.svg`), drawn with matplotlib, byte-identical per input.

Three pictures of what makes a shard hot: bytes out per node over time (estimated, measured by
the server, CloudWatch when fetched), bytes out across the 16,384 slots coloured by shard, and
bytes out by key pattern per shard. matplotlib rather than Altair + vl-convert: faster per chart,
no JavaScript engine inside, deterministic SVG with documented switches (docs/BENCHMARKS.md,
"Charts").

Determinism: no pyplot state (a `Figure` per chart), `svg.hashsalt` fixed (element ids),
`svg.fonttype` "none" (text stays text: no glyph paths that depend on the fonts installed), no
Date/Creator metadata, every series drawn in a fixed, sorted order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.store.outfolder import CHARTS_DIR

if TYPE_CHECKING:
    from hotshard.analyze.findings.found import Findings

SLOTS = 16384
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
MAX_NODES = 10  # lines in the time chart; the busiest nodes
MAX_PATTERNS = 8  # segments in the pattern chart; the rest is "other"
TOP_SLOTS = 20  # slots per shard marked with a dot in the slot chart
VISIBLE = 400  # slots below 1/VISIBLE of the highest are not drawn (under half a pixel)
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


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _bytes_axis(ax: Any, per_second: bool) -> None:
    from matplotlib.ticker import FuncFormatter

    unit = "/s" if per_second else ""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{humanize.size(v)}{unit}"))


def _measure(column: str) -> str:
    """What the rank column counts, in words."""
    return "estimated bytes out" if column == "est_bytes_out" else "client commands"


def _legend(ax: Any, top: float = 1.0, **options: Any) -> Any:
    """A small legend outside the plot, to its right, its top at `top` (axes fraction)."""
    return ax.legend(
        fontsize=7, loc="upper left", bbox_to_anchor=(1.01, top), frameon=False, **options
    )


def _save(fig: Any, folder: Path, name: str, alt: str) -> Chart:
    """Write the figure as `folder/<name>.svg` and return it as a Chart with its alt text."""
    fig.savefig(folder / f"{name}.svg", format="svg", metadata=METADATA, bbox_inches="tight")
    return Chart(name, f"{CHARTS_DIR}/{name}.svg", alt)


def preload() -> None:
    """Import the plotting library (about half a second) while the analyzer parses: `write`
    then starts drawing at once."""
    import matplotlib.figure
    import matplotlib.lines
    import matplotlib.patches
    import matplotlib.ticker  # noqa: F401
    from matplotlib.backends import backend_svg  # noqa: F401


def write(out: Path, f: Findings) -> list[Chart]:
    """Draw the charts into `out/charts/` and return them (those with something to show)."""
    import matplotlib

    folder = out / CHARTS_DIR
    folder.mkdir(exist_ok=True)
    charts = []
    with matplotlib.rc_context(RC), warnings.catch_warnings():  # type: ignore[arg-type]
        # Keys and patterns may hold any script; the SVG keeps the text, the viewer's fonts draw it.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        for draw in (_over_time, _slots, _patterns):
            chart = draw(folder, f)
            if chart is not None:
                charts.append(chart)
    return charts


def _shard_colours(f: Findings) -> dict[str, str]:
    shards = sorted(set(f.rollups.shards["shard"].to_list()))
    return {s: _colour(i) for i, s in enumerate(shards)}


def _clock(ts: float, tenths: bool) -> str:
    """HH:MM:SS (UTC) of an epoch second, with tenths for short windows."""
    text = humanize.timestamp(math.floor(ts))[11:19]
    return f"{text}.{int((ts - math.floor(ts)) * 10)}" if tenths else text


def _tint(colour: str, amount: float) -> str:
    """`colour` mixed with white by `amount` (0: itself): a replica beside its primary."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _node_colours(f: Findings, nodes: list[tuple[str, str, str]]) -> dict[str, str]:
    """Per node: its shard's colour, the primary full, each replica a lighter tint of it."""
    shard_colours = _shard_colours(f)
    out: dict[str, str] = {}
    for shard in sorted({s for _, s, _ in nodes}):
        members = sorted((r != "primary", n) for n, s, r in nodes if s == shard)
        for i, (_, node) in enumerate(members):
            out[node] = _tint(shard_colours.get(shard, "#555555"), min(0.55, 0.4 * i))
    return out


LineStyle = Literal["-", "--", ":"]
_STYLES: tuple[tuple[str, LineStyle, str, str], ...] = (
    ("estimated", "-", "", "estimated from the commands seen"),
    ("measured", "--", "", "measured: the server's INFO counters"),
    ("CloudWatch", ":", "o", "CloudWatch NetworkBytesOut (Sum per minute)"),
)


def _over_time(folder: Path, f: Findings) -> Chart | None:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    t = f.timeline
    if t is None or t.intervals.is_empty():
        return None
    # Busiest first: the legend reads in the order that matters.
    ranked = (
        t.intervals.group_by("node", "shard", "role")
        .agg(pl.col("est_bytes_out").sum(), pl.col("measured_bytes_out").sum())
        .with_columns(value=pl.max_horizontal("est_bytes_out", "measured_bytes_out"))
        .sort(["value", "node"], descending=[True, False], nulls_last=True)
        .head(MAX_NODES)
    )
    nodes = list(ranked.select("node", "shard", "role").iter_rows())
    colours = _node_colours(f, nodes)
    t0 = float(t.intervals["start"].min())  # type: ignore[arg-type]
    fig = Figure(figsize=(9, 3.8))
    ax = fig.subplots()
    lowest, drawn = math.inf, False
    styles: set[str] = set()
    node_handles = []
    for node, shard, role in nodes:
        colour = colours[node]
        label = f"{humanize.printable(f.node_label(node))}  shard {shard}, {role}"
        width = 1.8 if role == "primary" else 1.2
        node_handles.append(Line2D([], [], color=colour, linewidth=width, label=label))
        for column, style, what in (
            ("est_bytes_out", "-", "estimated"),
            ("measured_bytes_out", "--", "measured"),
        ):
            spans = [(s, e, v) for s, e, v in t.node_rates(node, column) if v is not None]
            if not spans:
                continue
            # CloudWatch's unit: bytes per minute (the rate over each interval, times 60).
            xs = [s - t0 for s, _, _ in spans] + [spans[-1][1] - t0]
            ys = [v * 60 for *_, v in spans] + [spans[-1][2] * 60]
            lowest = min([lowest, *(y for y in ys if y > 0)])
            ax.step(
                xs,
                ys,
                where="post",
                linestyle=style,
                linewidth=width,
                color=colour,
            )
            drawn = True
            styles.add(what)
        if t.cloudwatch:
            cw = t.minutes.filter(
                (pl.col("node") == node) & pl.col("cloudwatch_bytes_out").is_not_null()
            )
            if cw.height:
                values = cw["cloudwatch_bytes_out"].to_list()
                lowest = min([lowest, *(v for v in values if v > 0)])
                ax.plot(
                    [m + 30 - t0 for m in cw["minute"].to_list()],
                    values,
                    linestyle=":",
                    marker="o",
                    markersize=3,
                    color=colour,
                )
                drawn = True
                styles.add("CloudWatch")
    if not drawn:
        return None
    # A log axis: a node at a thousandth of the hot one is a line, not a flat 0.
    ax.set_yscale("log")
    if math.isfinite(lowest):
        ax.set_ylim(bottom=max(1.0, 10 ** math.floor(math.log10(lowest))))
    top = ax.get_ylim()[1]
    narrow = math.isfinite(lowest) and top / max(lowest, 1.0) < 100  # under two decades: more ticks
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: humanize.size(v)))
    span = float(t.intervals["end"].max()) - t0  # type: ignore[arg-type]
    if span >= 10:  # whole seconds; shorter windows show tenths
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _clock(t0 + v, span < 10)))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("client bytes out per minute (log)")
    ax.set_title("Client bytes out per node, in bytes per minute (CloudWatch's unit)")
    # Two legends: which node (colour, busiest first), and which measure (line style).
    nodes_legend = _legend(
        ax,
        handles=node_handles,
        title="node (busiest first)",
        title_fontsize=7,
        alignment="left",
    )
    ax.add_artist(nodes_legend)
    style_handles = [
        Line2D([], [], color="#555555", linestyle=style, marker=marker, markersize=3, label=text)
        for what, style, marker, text in _STYLES
        if what in styles
    ]

    _legend(ax, 0.0, handles=style_handles)
    what = "estimated and measured" if t.measured else "estimated"
    extra = ", with CloudWatch NetworkBytesOut per minute" if t.cloudwatch else ""
    alt = (
        f"Line chart, log scale: client bytes out per minute over time for {len(nodes)} "
        f"node(s), busiest first, {what}{extra}"
    )
    return _save(fig, folder, "bytes_over_time", alt)


def _slots(folder: Path, f: Findings) -> Chart | None:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    r = f.rollups
    column = r.rank_column
    slots = r.slots.filter(pl.col(column).is_not_null() & (pl.col(column) > 0))
    if slots.is_empty():
        return None
    top = slots.sort([column, "slot"], descending=[True, False]).row(0, named=True)
    # Bars under half a pixel high draw nothing but bytes of SVG.
    slots = slots.filter(pl.col(column) >= top[column] / VISIBLE)
    colours = _shard_colours(f)
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    for shard, a, b in f.slot_ranges:  # where each shard's slots are, faintly
        ax.axvspan(a, b + 1, color=colours.get(shard, "#dddddd"), alpha=0.12, linewidth=0)
    for shard in sorted(colours):
        part = slots.filter(pl.col("shard") == shard).sort("slot")
        if part.is_empty():
            continue
        xs, ys = part["slot"].to_list(), part[column].to_list()
        ax.vlines(xs, 0, ys, color=colours[shard], linewidth=1.2)
        tops = part.sort([column, "slot"], descending=[True, False]).head(TOP_SLOTS).sort("slot")
        ax.plot(  # a dot on the highest, so a single hot slot is seen at any width
            tops["slot"].to_list(),
            tops[column].to_list(),
            linestyle="none",
            marker="o",
            markersize=2.5,
            color=colours[shard],
        )
    ax.set_xlim(0, SLOTS)
    ax.set_ylim(bottom=0)
    if column == "est_bytes_out":
        _bytes_axis(ax, per_second=False)
        ax.set_ylabel(f"estimated bytes out in {humanize.duration(r.duration)}")
    else:
        ax.set_ylabel(f"client commands in {humanize.duration(r.duration)}")
    ax.set_xlabel("hash slot (0–16383)")
    ax.set_title(
        "Estimated bytes out per hash slot over the window, coloured by shard"
        if column == "est_bytes_out"
        else "Client commands per hash slot over the window, coloured by shard"
    )
    _legend(ax, handles=[Patch(color=c, label=f"shard {s}") for s, c in sorted(colours.items())])
    alt = (
        f"Bar chart: {_measure(column)} of each of the 16,384 hash slots, coloured by shard; "
        f"the highest is slot {top['slot']} on shard {top['shard']}"
    )
    return _save(fig, folder, "slots", alt)


def _patterns(folder: Path, f: Findings) -> Chart | None:
    from matplotlib.figure import Figure

    column = f.rollups.rank_column
    sp = f.rollups.shard_patterns
    if sp.is_empty() or column not in sp.columns:
        return None
    if column == "est_bytes_out":
        sp = sp.with_columns(pl.when(pl.col("bytes_known") > 0).then(pl.col(column)).alias(column))
    sp = sp.with_columns(pl.col(column).fill_null(0), pl.col("key_pattern").fill_null("(none)"))
    ranked = (
        sp.group_by("key_pattern")
        .agg(pl.col(column).sum())
        .filter(pl.col(column) > 0)
        .sort([column, "key_pattern"], descending=[True, False])
    )
    if ranked.is_empty():
        return None
    kept = ranked.head(MAX_PATTERNS)["key_pattern"].to_list()
    sp = sp.with_columns(
        pattern=pl.when(pl.col("key_pattern").is_in(kept))
        .then(pl.col("key_pattern"))
        .otherwise(pl.lit("(other patterns)"))
    )
    grid = sp.group_by("shard", "pattern").agg(pl.col(column).sum())
    shards = sorted(set(f.rollups.shards["shard"].to_list()) | set(grid["shard"].to_list()))
    order = [*kept, "(other patterns)"]
    values = {(s, p): v for s, p, v in grid.select("shard", "pattern", column).iter_rows()}
    totals = {s: sum(values.get((s, p), 0) for p in order) for s in shards}
    fig = Figure(figsize=(9, 0.8 + 0.45 * max(len(shards), 2)))
    ax = fig.subplots()
    left = [0.0] * len(shards)
    ys = list(range(len(shards)))
    for i, pattern in enumerate(order):  # each shard's bar is its own 100%: what it is made of
        widths = [
            values.get((s, pattern), 0) / totals[s] * 100 if totals[s] else 0.0 for s in shards
        ]
        if not any(widths):
            continue
        colour = "#bbbbbb" if pattern == "(other patterns)" else PATTERN_PALETTE[i]
        ax.barh(
            ys,
            widths,
            left=left,
            color=colour,
            label=humanize.printable(pattern),
            height=0.6,
            edgecolor="white",
            linewidth=0.5,
        )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    amount = humanize.size if column == "est_bytes_out" else humanize.count
    unit = "" if column == "est_bytes_out" else " commands"
    ax.set_yticks(ys, [f"shard {s}  ({amount(totals[s])}{unit})" for s in shards])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(
        "share of the shard's estimated bytes out (%)"
        if column == "est_bytes_out"
        else "share of the shard's client commands (%)"
    )
    ax.set_title(
        "What each shard's estimated bytes out are made of, by key pattern"
        if column == "est_bytes_out"
        else "What each shard's client commands are made of, by key pattern"
    )
    _legend(ax)
    alt = (
        f"Stacked bar chart: each shard's {_measure(column)} split by key pattern (shares of "
        "the shard, totals beside the shard names); the largest pattern overall "
        f"is {humanize.printable(kept[0])}"
    )
    return _save(fig, folder, "patterns", alt)


def section(charts: Sequence[Chart]) -> str:
    """The report's "Charts" section: the slot and pattern pictures (time is with its text)."""
    shown = [c for c in charts if c.name != "bytes_over_time"]
    if not shown:
        return ""
    return "## Charts\n\n" + "\n\n".join(c.markdown() for c in shown)


def over_time(charts: Sequence[Chart]) -> str | None:
    return next((c.markdown() for c in charts if c.name == "bytes_over_time"), None)
