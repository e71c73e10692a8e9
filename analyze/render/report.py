"""`report.md`: the analysis as a markdown page that reads well on GitHub.

Deterministic: the same findings give the same bytes (no wall-clock time, no machine paths, fixed
number formats, rankings already totally sorted by the rollups).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.render import advice, charts, headline, rankings, timeline
from hotshard.analyze.render import selfcheck as selfcheck_view
from hotshard.analyze.render.markdown import section, share_note, table
from hotshard.capture import __version__


def render(f: Findings, drawn: Sequence[charts.Chart] = ()) -> str:
    """The whole report as text (ends with a newline); `drawn`: the charts beside it."""
    parts = [
        "# hotshard report",
        headline.render(f),  # the first screen; the sections below are the details
        _overview(f),
        _health(f),
        _shards(f),
        _nodes(f),
        selfcheck_view.section(f),
        timeline.load_section(f),
        _bytes_over_time(f, drawn),
        rankings.top_keys(f),
        rankings.patterns(f),
        rankings.signatures(f),
        rankings.clients(f),
        rankings.large_ops(f),
        _slots(f),
        charts.section(drawn),
        advice.render(f),
        _recommendations(f),
        _footer(f),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _footer(f: Findings) -> str:
    if f.redaction:
        return f"---\n\nWritten by hotshard {__version__}. {f.redaction}"
    head = f"---\n\nWritten by hotshard {__version__}. Every command is in "
    if not f.database:
        return head + "`commands/` (Parquet, one folder per shard) beside this report."
    sql = "SELECT key_name, command, COUNT(*) AS n FROM commands GROUP BY 1, 2 ORDER BY n DESC LIMIT 20"
    return (
        head + "`hotshard.db` (table `commands`) and `commands/` (Parquet) beside this report; "
        f'from this folder: `hotshard query "{sql}" --db .`'
    )


# -- markdown helpers ----------------------------------------------------------------------
code = humanize.code


# -- sections ------------------------------------------------------------------------------
def _overview(f: Findings) -> str:
    t = f.rollups.totals
    lines = f.lines()
    rows: list[tuple[str, str]] = []
    for i in f.inputs:
        if i.kind == "capture":
            what = f"capture {code(i.name)}"
            if i.cluster:
                what += f" of cluster {code(i.cluster)}"
            what += f", {i.nodes_monitored} nodes monitored, status {i.status or 'unknown'}"
        else:
            what = f"MONITOR log {code(i.name)}"
        rows.append(("Input", what))
    w = f.window
    span = f"{humanize.timestamp(w.start)} → {humanize.timestamp(w.end)} ({humanize.duration(f.rollups.duration)})"
    rows.append(("Window", span + (" — filtered by --since/--until" if w.filtered else "")))
    rows.append(
        (
            "Lines",
            f"{humanize.count(lines['total'])} read, {humanize.count(lines['parsed'])} commands, "
            f"{humanize.count(lines['errors'])} unparsable, {humanize.count(lines['skipped'])} skipped",
        )
    )
    internal = (
        # Slot migration (MIGRATE, RESTORE-ASKING, ASKING, CLUSTER ...): only when there was any.
        f", {humanize.count(t.cluster)} the cluster's own (slot migration: MIGRATE, "
        "RESTORE-ASKING, ASKING, CLUSTER)"
        if t.cluster
        else ""
    )
    rows.append(
        (
            "Client commands",
            f"{humanize.count(t.client)} ({humanize.rate(t.client / f.rollups.duration)}/s); "
            f"not counted as client traffic: {humanize.count(t.replicated)} replicated writes, "
            f"{humanize.count(t.script)} script sub-commands{internal}",
        )
    )
    if t.est_bytes_out is not None:
        cover = humanize.percent(t.coverage)
        rows.append(
            (
                "Bytes out",
                f"{humanize.size(t.est_bytes_out)} estimated (reply size known for {cover} "
                "of client commands)",
            )
        )
    else:
        rows.append(("Bytes out", "unknown (no reply-size estimates)"))
    basis = "estimated bytes out" if f.rollups.basis == "bytes" else "client commands"
    rows.append(("Rankings by", basis))
    return section("Capture", table(["", ""], rows))


def _health(f: Findings) -> str:
    ls = f.line_stats
    body = []
    if ls.height:
        cols = [
            c
            for c in ("source", "node", "shard", "lines_total", "parsed", "skipped", "errors")
            if c in ls.columns
        ]
        trunc = "truncated_last_line" in ls.columns
        headers = {
            "source": "Source",
            "node": "Node",
            "shard": "Shard",
            "lines_total": "Lines",
            "parsed": "Commands",
            "skipped": "Skipped",
            "errors": "Errors",
        }
        rows = []
        for r in ls.sort("source").iter_rows(named=True):
            cells = [
                code(r[c])
                if c == "source"
                else humanize.count(r[c])
                if c in ("lines_total", "parsed", "skipped", "errors")
                else r[c]
                for c in cols
            ]
            if trunc:
                cells.append("yes" if r["truncated_last_line"] else "no")
            rows.append(cells)
        hdr = [headers[c] for c in cols] + (["Truncated last line"] if trunc else [])
        body.append(
            table(
                hdr,
                rows,
                "".join(
                    "r" if c in ("lines_total", "parsed", "skipped", "errors") else "l"
                    for c in cols
                ),
            )
        )
    notes = [humanize.printable(w) for w in f.warnings]  # they quote paths and server errors
    notes += _error_examples(ls)
    lines = f.lines()
    if lines["errors"] and not _error_examples(ls):
        notes.append(f"{humanize.count(lines['errors'])} line(s) could not be parsed.")
    if notes:
        body.append("\n".join(f"- {n}" for n in notes))
    else:
        body.append(
            "No problems found: every MONITOR line parsed, no gaps, no warnings."
            if lines["errors"] == 0
            else ""
        )
    if lines["skipped"]:  # the counts above say "skipped": say what that was
        body.append(
            f"Skipped: {humanize.count(lines['skipped'])} line(s) that are not commands "
            "(the `OK` that `redis-cli monitor` prints first, blank lines); nothing is lost."
        )
    return section("Health", *body)


def _error_examples(ls: pl.DataFrame, limit: int = 5) -> list[str]:
    """Up to `limit` unparsable lines, as the parser kept them."""
    col = next((c for c in ("examples", "error_examples") if c in ls.columns), None)
    if col is None or not isinstance(ls.schema[col], pl.List):
        return []
    out: list[str] = []
    for source, examples in ls.sort("source").select("source", col).iter_rows():
        for ex in examples or []:
            if len(out) < limit:
                out.append(f"unparsable line in {code(source)}: {code(str(ex), 100)}")
    return out


def _shards(f: Findings) -> str:
    r = f.rollups
    rows = []
    for s in r.shards.iter_rows(named=True):
        hot = " 🔥" if s["shard"] == f.verdict.hot_shard and f.verdict.status == "hot" else ""
        rows.append(
            [
                f"{code(s['shard'])}{hot}",
                s["nodes"],
                humanize.count(s["commands"]),
                humanize.rate(s["ops_per_s"]),
                humanize.count(s["peak_ops_per_s"]),
                humanize.size(s["est_bytes_out"]),
                humanize.percent(s["bytes_known"] / s["commands"] if s["commands"] else None),
                humanize.percent(s["share"]),
                humanize.count(s["replicated"]),
                humanize.count(s["script"]),
                humanize.count(s["distinct_keys"]),
                _top_command(f, s["shard"], s["top_command"]),
            ]
        )
    headers = [
        "Shard",
        "Nodes",
        "Client commands",
        "ops/s",
        "Peak ops/s",
        "Est. bytes out",
        "Reply size known",
        "Share",
        "Replicated writes",
        "Script sub-commands",
        "Keys",
        "Top command (commands, bytes)" if f.rollups.basis == "bytes" else "Top command (commands)",
    ]
    v = f.verdict
    note = share_note(f)
    if v.skew is not None:
        note += f" Skew: hottest shard / median of the others = {humanize.ratio(v.skew)}."
    return section("Shards", table(headers, rows, "lrrrrrrrrrrl"), note)


def _top_command(f: Findings, shard: str, command: str | None) -> str:
    """The shard's top command by the ranking, with its count (and bytes) beside it."""
    if not command:
        return "—"
    sc = f.rollups.shard_commands
    row = sc.filter((pl.col("shard") == shard) & (pl.col("command") == command)).head(1)
    if row.is_empty():
        return code(command.upper())
    n, b = row.row(0, named=True)["commands"], row.row(0, named=True)["est_bytes_out"]
    amount = f", {humanize.size(b)}" if f.rollups.basis == "bytes" and b is not None else ""
    return f"{code(command.upper())} ({humanize.count(n)}{amount})"


def _whole_estimate(f: Findings, node: str, modelled: int | None) -> int | None:
    """Modelled replies plus what MONITOR does not show: comparable with measured."""
    check = f.self_check.node(node)
    if modelled is None or check is None:
        return modelled
    return modelled + check.not_shown_bytes


def _nodes(f: Findings) -> str:
    nodes = f.rollups.nodes
    if nodes.height <= 1:
        return ""
    cw = bool(f.cloudwatch_bytes_out)
    rows = []
    for n in nodes.sort("shard", "node", "role").iter_rows(named=True):
        measured = f.measured_bytes_out.get(n["node"])
        row = [
            code(n["node"]),
            code(n["shard"]),
            n["role"],
            humanize.count(n["commands"]),
            humanize.size(_whole_estimate(f, n["node"], n["est_bytes_out"])),
            humanize.size(measured),
            humanize.count(n["replicated"]),
        ]
        if cw:
            row.append(humanize.size(f.cloudwatch_bytes_out.get(n["node"])))
        rows.append(row)
    headers = [
        "Node",
        "Shard",
        "Role",
        "Client commands",
        "Est. bytes out",
        "Measured bytes out",
        "Replicated writes",
    ]
    notes = [
        "Measured bytes out: the server's own output counter over the window (INFO deltas), "
        "less replication and this tool's traffic."
    ]
    unknown = [
        n
        for n in nodes["node"].to_list()
        if n in f.measured_bytes_out and f.measured_bytes_out[n] is None
    ]
    if unknown:
        notes.append(
            "— means the server's counters cannot give it for that node (no INFO after the "
            "window, or the server restarted during it: see Health)."
        )
    if cw:
        headers.append("CloudWatch NetworkBytesOut")
        notes.append(
            "CloudWatch counts whole minutes per host, replication and cluster bus included: "
            "expect it above the other two."
        )
    return section("Nodes", table(headers, rows, "lllrrrrr"), " ".join(notes))


def _bytes_over_time(f: Findings, drawn: Sequence[charts.Chart]) -> str:
    """Bytes out per node through time: the chart and byte sparklines (analyze/findings/timeline.py)."""
    return timeline.section(f, charts.over_time(drawn))


def _slots(f: Findings) -> str:
    slots = f.rollups.slots
    if slots.is_empty():
        return ""
    measured = f.slot_stats.bytes_out
    shown, more = rankings.ranked(f, slots, min(f.top, 10))
    rows = [
        [
            s["slot"],
            code(s["shard"]),
            humanize.count(s["distinct_keys"]),
            humanize.count(s["commands"]),
            humanize.size(s["est_bytes_out"]),
            humanize.percent(s["share_of_shard"]),
        ]
        + ([_measured_slot(measured.get((s["shard"], s["slot"])))] if measured else [])
        for s in shown
    ]
    headers = ["Slot", "Shard", "Keys", "Commands", "Est. bytes out", "Share of shard"]
    notes = ""
    if measured:
        headers.append("Measured bytes out (server)")
        notes = (
            "Measured: the server's own per-slot counter (Valkey `CLUSTER SLOT-STATS` "
            "`network-bytes-out`, over the window, summed over the shard's nodes). It also "
            "counts the replication stream, each write once per replica, which the estimate "
            "leaves out: on a write-heavy slot measured above estimated is expected."
        )
    bullets = "\n".join(f"- {n}" for n in f.slot_stats.notes)
    notes = "\n\n".join(p for p in (more, notes, bullets) if p)
    return section("Hottest slots", table(headers, rows, "rlrrrrr"), notes)


def _measured_slot(value: int | None) -> str | None:
    return None if value is None else humanize.size(value)


def _recommendations(f: Findings) -> str:
    if not f.recommendations:
        return section("Recommendations", "Nothing stands out.")
    shown, small = headline.recommendations(f)
    items = "\n".join(f"{i}. {r.text}" for i, r in enumerate(shown, 1))
    more = (
        f"{len(small)} more about less than {humanize.percent(headline.NOISE)} of the traffic each "
        "(in `summary.json`)."
        if small
        else ""
    )
    return section("Recommendations", items, more)
