"""`report.md`: the analysis as a markdown page that reads well on GitHub.

Deterministic: the same findings give the same bytes (no wall-clock time, no machine paths, fixed
number formats, rankings already totally sorted by the rollups).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.findings import timeline
from hotshard.analyze.findings.findings import Findings
from hotshard.analyze.measure import selfcheck
from hotshard.analyze.render import advice, charts, headline
from hotshard.capture import __version__

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60  # columns of a sparkline at most


def render(f: Findings) -> str:
    """The whole report as text (ends with a newline)."""
    parts = [
        "# hotshard report",
        headline.render(f),  # the first screen; the sections below are the details
        _overview(f),
        _health(f),
        _shards(f),
        _nodes(f),
        _self_check(f),
        _load_over_time(f),
        _bytes_over_time(f),
        _top_keys(f),
        _patterns(f),
        _signatures(f),
        _clients(f),
        _large_ops(f),
        _slots(f),
        charts.section(f.charts),
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


_cell = humanize.cell


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A GitHub table; `align` has one letter per column, `r` for right-aligned numbers."""
    align = align[: len(headers)].ljust(len(headers), "l")
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _section(title: str, *body: str) -> str:
    return "\n\n".join([f"## {title}", *[b for b in body if b]])


def _share_note(f: Findings) -> str:
    if f.rollups.basis == "bytes":
        return "Shares are of estimated bytes out."
    return "Shares are of client commands (reply sizes unknown)."


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
    rows.append(
        (
            "Client commands",
            f"{humanize.count(t.client)} ({humanize.rate(t.client / f.rollups.duration)}/s); "
            f"not counted as client traffic: {humanize.count(t.replicated)} replicated writes, "
            f"{humanize.count(t.script)} script sub-commands",
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
    return _section("Capture", table(["", ""], rows))


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
    return _section("Health", *body)


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
    note = _share_note(f)
    if v.skew is not None:
        note += f" Skew: hottest shard / median of the others = {humanize.ratio(v.skew)}."
    return _section("Shards", table(headers, rows, "lrrrrrrrrrrl"), note)


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
    return _section("Nodes", table(headers, rows, "lllrrrrr"), " ".join(notes))


# -- self-check (analyze/measure/selfcheck.py) ----------------------------------------------------------
def _whole_estimate(f: Findings, node: str, modelled: int | None) -> int | None:
    """Modelled replies plus what MONITOR does not show: comparable with measured."""
    check = f.self_check.node(node)
    if modelled is None or check is None:
        return modelled
    return modelled + check.not_shown_bytes


_PART_NAMES = {
    "rejected": "rejected before running",
    "admin": "admin command",
    "info": "INFO",
    "command": "COMMAND",
    "pubsub": "Pub/Sub",
    "replication": "replica to primary",
}


def _self_check(f: Findings) -> str:
    check = f.self_check
    if not check.nodes:
        return ""
    rows = []
    for n in check.nodes:
        gap = n.unexplained
        rows.append(
            [
                code(n.node),
                code(n.shard),
                n.role,
                humanize.percent(n.share),
                humanize.size(n.estimated),
                humanize.size(n.measured),
                "—" if n.ratio is None else f"{n.ratio:.3f}×",
                humanize.size(gap)
                if gap is not None and gap >= 0
                else ("-" + humanize.size(-gap) if gap is not None else None),
                humanize.percent(gap / n.measured) if gap is not None and n.measured else None,
            ]
        )
    headers = [
        "Node",
        "Shard",
        "Role",
        "Share",
        "Estimated",
        "Measured",
        "Est. ÷ measured",
        "Unexplained",
        "Unexplained share",
    ]
    body = [
        table(headers, rows, "lllrrrrrr"),
        "Estimated: modelled replies plus what MONITOR does not show (errors of rejected "
        "commands, admin commands, INFO, Pub/Sub pushes), from the server's own counters. "
        f"Nodes off by more than {humanize.percent(check.tolerance)} (`--tolerance`) above "
        f"{humanize.percent(selfcheck.MIN_SHARE)} of the traffic get a breakdown below.",
    ]
    for n in check.off():
        body.append(_breakdown(n))
    return _section("Self-check", *body)


def _breakdown(n: selfcheck.NodeCheck) -> str:
    measured = n.measured or 0

    def share(b: int | None) -> str | None:
        return humanize.percent(b / measured) if b is not None and measured else None

    rows: list[list[Any]] = []
    for conf, b in n.modelled.items():
        count = n.modelled_commands.get(conf)
        rows.append(
            [
                f"modelled replies, {conf}",
                humanize.count(count) if count else "",
                humanize.size(b),
                share(b),
                conf,
            ]
        )
    if n.unknown_commands:
        rows.append(
            ["modelled replies, unknown", humanize.count(n.unknown_commands), "—", None, "none"]
        )
    for p in n.parts:
        rows.append(
            [
                f"not shown by MONITOR: {_PART_NAMES.get(p.kind, p.kind)} {code(p.name)}",
                humanize.count(p.count),
                humanize.size(p.bytes) if p.bytes is not None else "—",
                share(p.bytes),
                p.basis,
            ]
        )
    gap = n.unexplained
    rows.append(
        [
            "**unexplained**",
            "",
            humanize.size(gap)
            if gap is not None and gap >= 0
            else f"-{humanize.size(-(gap or 0))}",
            share(gap),
            "",
        ]
    )
    repl = n.replication
    note = (
        f"Replication, its own figure (not client bytes): estimated "
        f"{humanize.size(repl.estimated)}, measured {humanize.size(repl.measured)}."
        if n.role == "primary"
        else ""
    )
    head = f"### Where the measured bytes of {code(n.node)} went ({n.ratio:.3f}× explained)"
    parts = [head, table(["Part", "Count", "Bytes", "Of measured", "Sized by"], rows, "lrrrl")]
    return "\n\n".join(p for p in (*parts, note) if p)


def sparkline(values: Sequence[float], top: float) -> str:
    """One character per value, scaled to `top`; a blank for no traffic at all."""
    out = []
    for v in values:
        if v <= 0 or top <= 0:
            out.append(" ")
        else:
            level = min(len(SPARK) - 1, math.ceil(v / top * len(SPARK)) - 1)
            out.append(SPARK[max(level, 0)])
    return "".join(out)


def _load_over_time(f: Findings) -> str:
    r = f.rollups
    series = r.series
    if series.is_empty():
        return ""
    first, last = series["second"].min(), series["second"].max()
    start = math.floor(f.window.start if f.window.start is not None else float(first))  # type: ignore[arg-type]
    end = int(last) + 1  # type: ignore[arg-type]
    if f.window.end is not None:
        end = max(end, math.ceil(f.window.end))
    span = max(end - start, 1)
    bucket = max(1, math.ceil(span / SPARK_WIDTH))
    width = math.ceil(span / bucket)
    grid = (
        series.with_columns(b=((pl.col("second") - start) // bucket).clip(0, width - 1))
        .group_by("shard", "b")
        .agg(pl.col("commands").sum())
        .with_columns(ops=pl.col("commands") / bucket)
        .sort("shard", "b")
    )
    peak = float(grid["ops"].max() or 0)  # type: ignore[arg-type]
    shards = r.shards["shard"].sort().to_list()
    label = max((len(s) for s in shards), default=4)
    lines = []
    for shard in shards:
        values = [0.0] * width
        for b, ops in grid.filter(pl.col("shard") == shard).select("b", "ops").iter_rows():
            values[b] = ops
        top_ops = max(values)
        lines.append(
            f"{shard.ljust(label)} {sparkline(values, peak)} peak {humanize.rate(top_ops)} ops/s"
        )
    unit = f"{bucket} s" if bucket > 1 else "1 s"
    note = (
        f"Client ops/s per shard, one character per {unit} from {humanize.timestamp(start)}; "
        f"all rows share one scale (█ = {humanize.rate(peak)} ops/s); a blank is no traffic."
    )
    return _section("Load over time", "```text\n" + "\n".join(lines) + "\n```", note)


def _bytes_over_time(f: Findings) -> str:
    """Bytes out per node through time: the chart and byte sparklines (analyze/findings/timeline.py)."""
    return timeline.section(f, charts.over_time(f.charts))


NOISE = headline.NOISE  # rows below this share of the input are summed up in one line
MIN_ROWS = 3  # ... except the first few, so a balanced input still shows its leaders


def _rank(df: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    return list(df.head(n).iter_rows(named=True))


def _ranked(
    f: Findings, df: pl.DataFrame, limit: int | None = None
) -> tuple[list[dict[str, Any]], str]:
    """The rows worth reading (at least `MIN_ROWS`, then those above `NOISE` of the input's
    total), and a line saying how many of the top `limit` were left out and what they weigh."""
    column = f.rollups.rank_column
    t = f.rollups.totals
    total = (t.est_bytes_out or 0) if f.rollups.basis == "bytes" else t.client
    rows = _rank(df, f.top if limit is None else limit)
    shown = [
        r
        for i, r in enumerate(rows)
        if i < MIN_ROWS or (total and (r[column] or 0) >= NOISE * total)
    ]
    rest = rows[len(shown) :]
    if not rest:
        return shown, ""
    weight = sum(r[column] or 0 for r in rest)
    amount = humanize.size(weight) if f.rollups.basis == "bytes" else humanize.count(weight)
    what = "estimated bytes out" if f.rollups.basis == "bytes" else "client commands"
    line = (
        f"{len(rest)} more below {humanize.percent(NOISE)} of all {what} each ({amount} "
        "together) are not listed; `summary.json` and the commands table hold them."
    )
    return shown, line


def _top_keys(f: Findings) -> str:
    rows = []
    keys, more = _ranked(f, f.rollups.hot_keys)
    for i, k in enumerate(keys, 1):
        rows.append(
            [
                i,
                code(k["key_name"]) + (" (binary)" if k["key_binary"] else ""),
                code(k["shard"]),
                k["slot"],
                humanize.count(k["commands"]),
                humanize.rate(k["ops_per_s"]),
                humanize.size(k["est_bytes_out"]),
                humanize.percent(k["share_of_shard"]),
                code((k["top_command"] or "").upper()),
                code(k["key_pattern"]),
            ]
        )
    if not rows:
        return _section("Top keys", "No client command named a key.")
    headers = [
        "#",
        "Key",
        "Shard",
        "Slot",
        "Commands",
        "ops/s",
        "Est. bytes out",
        "Share of shard",
        "Mostly",
        "Pattern",
    ]
    return _section("Top keys", table(headers, rows, "rlllrrrrll"), more, _share_note(f))


def _patterns(f: Findings) -> str:
    patterns, more = _ranked(f, f.rollups.patterns)
    rows = [
        [
            i,
            code(p["key_pattern"]),
            humanize.count(p["distinct_keys"]),
            p["shards"],
            humanize.count(p["commands"]),
            humanize.rate(p["ops_per_s"]),
            humanize.size(p["est_bytes_out"]),
            humanize.percent(p["share"]),
        ]
        for i, p in enumerate(patterns, 1)
    ]
    if not rows:
        return ""
    headers = ["#", "Pattern", "Keys", "Shards", "Commands", "ops/s", "Est. bytes out", "Share"]
    return _section("Top key patterns", table(headers, rows, "rlrrrrrr"), more)


def _signatures(f: Findings) -> str:
    signatures, more = _ranked(f, f.rollups.signatures)
    rows = [
        [
            i,
            code(s["signature"], 100),
            humanize.count(s["commands"]),
            humanize.rate(s["ops_per_s"]),
            humanize.size(s["avg_reply_bytes"]),
            humanize.size(s["est_bytes_out"]),
            humanize.percent(s["share"]),
        ]
        for i, s in enumerate(signatures, 1)
    ]
    if not rows:
        return ""
    headers = [
        "#",
        "Command \\| pattern \\| arguments",
        "Commands",
        "ops/s",
        "Avg reply",
        "Est. bytes out",
        "Share",
    ]
    return _section("Top command signatures", table(headers, rows, "rlrrrrr"), more)


def _clients(f: Findings) -> str:
    clients, more = _ranked(f, f.rollups.clients)
    rows = [
        [
            i,
            code(c["client_id"]),
            c["client_kind"],
            humanize.count(c["connections"]),
            humanize.count(c["commands"]),
            humanize.rate(c["ops_per_s"]),
            humanize.size(c["est_bytes_out"]),
            humanize.percent(c["share"]),
            code((c["top_command"] or "").upper()),
        ]
        for i, c in enumerate(clients, 1)
    ]
    if not rows:
        return ""
    headers = [
        "#",
        "Client",
        "Kind",
        "Connections",
        "Commands",
        "ops/s",
        "Est. bytes out",
        "Share",
        "Mostly",
    ]
    return _section("Heavy clients", table(headers, rows, "rllrrrrrl"), more)


def _large_ops(f: Findings) -> str:
    ops = f.rollups.large_ops
    title = "Large-key operations (whole-value reads)"
    if ops.is_empty():
        return _section(
            title,
            "No whole-value reads (`LRANGE 0 -1`, `ZREVRANGE 0 -1`, `HGETALL`, `SMEMBERS`...) were seen.",
        )
    shown, more = _ranked(f, ops)
    rows = [
        [
            i,
            code(o["command"].upper() + (" " + o["arg_shape"] if o["arg_shape"] else "")),
            code(o["key_name"]),
            code(o["shard"]),
            humanize.count(o["commands"]),
            humanize.size(o["max_reply_bytes"]),
            humanize.size(o["est_bytes_out"]),
            humanize.percent(o["share_of_shard"]),
        ]
        for i, o in enumerate(shown, 1)
    ]
    headers = [
        "#",
        "Command",
        "Key",
        "Shard",
        "Times",
        "Largest reply",
        "Est. bytes out",
        "Share of shard",
    ]
    note = "Commands that return a whole collection whatever its size: they grow with the key."
    return _section(title, table(headers, rows, "rlllrrrr"), more, note)


def _slots(f: Findings) -> str:
    slots = f.rollups.slots
    if slots.is_empty():
        return ""
    measured = f.slot_stats.bytes_out
    shown, more = _ranked(f, slots, min(f.top, 10))
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
    return _section("Hottest slots", table(headers, rows, "rlrrrrr"), notes)


def _measured_slot(value: int | None) -> str | None:
    return None if value is None else humanize.size(value)


def _recommendations(f: Findings) -> str:
    if not f.recommendations:
        return _section("Recommendations", "Nothing stands out.")
    shown, small = headline.recommendations(f)
    items = "\n".join(f"{i}. {r.text}" for i, r in enumerate(shown, 1))
    more = (
        f"{len(small)} more about less than {humanize.percent(headline.NOISE)} of the traffic each "
        "(in `summary.json`)."
        if small
        else ""
    )
    return _section("Recommendations", items, more)
