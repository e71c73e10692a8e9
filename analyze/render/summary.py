"""`summary.json`: the analysis' headline numbers, machine-readable (for CI checks and scripts).

Schema (version `SCHEMA_VERSION`; docs/SUMMARY_SCHEMA.md is the reference, kept in step by a
test). Unknown values are `null`, never 0: `est_bytes_out` is null while reply sizes are unknown,
`measured_bytes_out` until a capture's INFO deltas are reconciled. Byte counts are integers,
ratios and rates floats rounded to 6 digits. Lists are ranked by `basis` ("bytes" once key
sizes were sampled or most client commands have an estimate, else "commands") with stable
tie-breakers.

    schema_version     int
    tool_version       str
    inputs             [{name, kind: "capture"|"log", cluster, status}]
    window             {since, until, start, end, duration_s}       epoch seconds
    lines              {total, parsed, skipped, errors, truncated_files}
    commands           {total, client, replicated, script, cluster} rows by origin
    basis              "bytes" | "commands"
    bytes              {est_bytes_out, coverage, request_bytes}     client traffic only
    hot_shard          {shard, status, basis, estimate, skew_ratio, value, others_median,
                        values, text}
    shards             [{shard, nodes, commands, ops_per_s, peak_ops_per_s, est_bytes_out,
                         share, replicated, script, distinct_keys, top_command}]
    nodes              [{node, shard, role, commands, replicated, script, est_bytes_out,
                         modelled_bytes_out, measured_bytes_out, cloudwatch_bytes_out}]
    self_check         {tolerance, min_share, status, text, nodes: [...]}  (analyze/measure/selfcheck.py)
    top_keys           [{key, key_binary, shard, slot, pattern, commands, ops_per_s,
                         est_bytes_out, share_of_shard, top_command}]
    top_patterns       [{pattern, distinct_keys, shards, commands, ops_per_s, est_bytes_out, share}]
    top_signatures     [{signature, command, pattern, commands, ops_per_s, avg_reply_bytes,
                         est_bytes_out, share}]
    top_clients        [{client, kind, connections, commands, ops_per_s, est_bytes_out, share,
                         top_command}]
    large_key_operations [{key, shard, command, arg_shape, commands, est_bytes_out,
                         max_reply_bytes, share_of_shard}]
    recommendations    [{kind, text, saves_bytes, subject, level}]
    warnings           [str]
    balance_score      float | null                                 0 = every shard even
    network            {source, retrieved, nodes: [...]} | null      analyze/measure/bandwidth.py
    timeline           {measured, cloudwatch, bin_seconds, intervals: [{node, shard, role, start,
                         end, commands, est_bytes_out, measured_bytes_out, commands_processed}],
                         minutes: [{node, shard, role, minute, commands, est_bytes_out,
                         measured_bytes_out, cloudwatch_bytes_out}]}    analyze/findings/timeline.py
    charts             [str]                                        files beside report.md
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from hotshard.analyze.findings import slotplan
from hotshard.analyze.findings.found import Findings
from hotshard.analyze.measure import bandwidth, selfcheck
from hotshard.analyze.render import timeline
from hotshard.analyze.render.drawing import Chart
from hotshard.capture import __version__

SCHEMA_VERSION = 1


def _num(v: Any) -> Any:
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
        return round(v, 6)
    return v


def _records(df: pl.DataFrame, columns: dict[str, str], n: int) -> list[dict[str, Any]]:
    """The first `n` rows, columns renamed `source -> json name`."""
    present = {src: dst for src, dst in columns.items() if src in df.columns}
    rows = df.head(n).select(list(present)).rename(present).to_dicts()
    return [{k: _num(v) for k, v in r.items()} for r in rows]


def build(
    f: Findings, charts: Sequence[Chart] = (), tool_version: str = __version__
) -> dict[str, Any]:
    r = f.rollups
    t = r.totals
    v = f.verdict
    top = f.top
    nodes = _records(
        r.nodes.sort("shard", "node", "role"),
        {
            c: c
            for c in ("node", "shard", "role", "commands", "replicated", "script", "est_bytes_out")
        },
        r.nodes.height,
    )
    for n in nodes:
        n["measured_bytes_out"] = f.measured_bytes_out.get(n["node"])
        n["cloudwatch_bytes_out"] = _num(f.cloudwatch_bytes_out.get(n["node"]))
        _whole_estimate(n, f)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": tool_version,
        "inputs": [
            {"name": i.name, "kind": i.kind, "cluster": i.cluster, "status": i.status}
            for i in f.inputs
        ],
        "window": {
            "since": f.window.since,
            "until": f.window.until,
            "start": f.window.start,
            "end": f.window.end,
            "duration_s": _num(r.duration),
        },
        "lines": f.lines(),
        "commands": {
            "total": t.rows,
            "client": t.client,
            "replicated": t.replicated,
            "script": t.script,
            "cluster": t.cluster,
        },
        "basis": r.basis,
        "bytes": {
            "est_bytes_out": t.est_bytes_out,
            "coverage": _num(t.coverage),
            "request_bytes": t.request_bytes,
        },
        "hot_shard": {
            "shard": v.hot_shard,
            "status": v.status,
            "basis": v.basis,
            "estimate": v.estimate,
            "skew_ratio": _num(v.skew),
            "value": _num(v.hot_value),
            "others_median": _num(v.others_median),
            "values": {s: _num(x) for s, x in sorted(v.values.items())},
            "text": v.text,
        },
        "shards": _records(
            r.shards,
            {
                c: c
                for c in (
                    "shard",
                    "nodes",
                    "commands",
                    "ops_per_s",
                    "peak_ops_per_s",
                    "est_bytes_out",
                    "share",
                    "replicated",
                    "script",
                    "distinct_keys",
                    "top_command",
                )
            },
            r.shards.height,
        ),
        "nodes": nodes,
        "top_keys": _records(
            r.hot_keys,
            {
                "key_name": "key",
                "key_binary": "key_binary",
                "shard": "shard",
                "slot": "slot",
                "key_pattern": "pattern",
                "commands": "commands",
                "ops_per_s": "ops_per_s",
                "est_bytes_out": "est_bytes_out",
                "share_of_shard": "share_of_shard",
                "top_command": "top_command",
            },
            top,
        ),
        "top_patterns": _records(
            r.patterns,
            {
                "key_pattern": "pattern",
                "distinct_keys": "distinct_keys",
                "shards": "shards",
                "commands": "commands",
                "ops_per_s": "ops_per_s",
                "est_bytes_out": "est_bytes_out",
                "share": "share",
            },
            top,
        ),
        "top_signatures": _records(
            r.signatures,
            {
                "signature": "signature",
                "command": "command",
                "key_pattern": "pattern",
                "commands": "commands",
                "ops_per_s": "ops_per_s",
                "avg_reply_bytes": "avg_reply_bytes",
                "est_bytes_out": "est_bytes_out",
                "share": "share",
            },
            top,
        ),
        "top_clients": _records(
            r.clients,
            {
                "client_id": "client",
                "client_kind": "kind",
                "connections": "connections",
                "commands": "commands",
                "ops_per_s": "ops_per_s",
                "est_bytes_out": "est_bytes_out",
                "share": "share",
                "top_command": "top_command",
            },
            top,
        ),
        "large_key_operations": _records(
            r.large_ops,
            {
                "key_name": "key",
                "shard": "shard",
                "command": "command",
                "arg_shape": "arg_shape",
                "commands": "commands",
                "est_bytes_out": "est_bytes_out",
                "max_reply_bytes": "max_reply_bytes",
                "share_of_shard": "share_of_shard",
            },
            top,
        ),
        "recommendations": [
            {
                "kind": rec.kind,
                "text": rec.text,
                "saves_bytes": rec.saves_bytes,
                "subject": rec.subject,
                "level": rec.level,
            }
            for rec in f.recommendations
        ],
        "warnings": list(f.warnings),
        "balance_score": _num(_balance(f)),
        "network": bandwidth.to_json(f.network),
        "self_check": selfcheck.to_json(f.self_check),
        "commandlog": f.commandlog,
        **_timeline(f, charts),
    }


def _balance(f: Findings) -> float | None:
    """analyze/findings/slotplan.py `balance_score` over the shards the verdict compared, in
    its unit (the full estimate when it used it: one basis for skew and balance)."""
    values = list(f.verdict.values.values())
    if not values:
        column = f.rollups.rank_column
        values = [float(v or 0) for v in f.rollups.shards[column].to_list()]
    return slotplan.balance_score(values)


def _timeline(f: Findings, charts: Sequence[Chart]) -> dict[str, Any]:
    """Bytes out through time per node, and the chart files (render/timeline.py, charts.py)."""
    return {"timeline": timeline.summary(f.timeline), "charts": [c.path for c in charts]}


def _whole_estimate(node: dict[str, Any], f: Findings) -> None:
    """`est_bytes_out` becomes modelled replies plus what MONITOR does not show (the figure
    comparable with `measured_bytes_out`); `modelled_bytes_out` keeps the replies alone."""
    node["modelled_bytes_out"] = node["est_bytes_out"]
    check = f.self_check.node(node["node"])
    if check is not None and node["est_bytes_out"] is not None:
        node["est_bytes_out"] += check.not_shown_bytes


def render(f: Findings, charts: Sequence[Chart] = (), tool_version: str = __version__) -> str:
    """summary.json text: sorted keys, two-space indent, trailing newline."""
    return (
        json.dumps(build(f, charts, tool_version), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )
