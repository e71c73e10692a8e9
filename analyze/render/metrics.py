"""`hotshard.prom`: the analysis' headline numbers as a Prometheus textfile (the format
node_exporter's textfile collector reads), so dashboards and alerts can track them.

Built from summary.json's dict (analyze/render/summary.py), so the two never disagree. Every family is
a gauge over the analysis window (`hotshard_window_seconds`); label sets are bounded: nodes and
shards of the cluster, and at most TOP ranked keys and patterns (`rank` 1..TOP). Same input,
same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from hotshard.analyze.findings.found import Findings
from hotshard.analyze.render.drawing import Chart
from hotshard.analyze.render.summary import build as build_summary

TOP = 10  # keys and patterns exported (bounded label cardinality)
LABEL_LIMIT = 200  # characters of a key or pattern kept in a label


def _label(value: object) -> str:
    text = str(value)
    if len(text) > LABEL_LIMIT:
        text = text[: LABEL_LIMIT - 1] + "…"
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


Sample = tuple[dict[str, object], float | int | None]


def _family(name: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    rows = [(labels, v) for labels, v in samples if v is not None]
    if not rows:
        return []
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in rows:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        out.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")
    return out


def render(f: Findings, charts: Sequence[Chart] = ()) -> str:
    """The textfile for one analysis (from its summary: as shareable as that is)."""
    return from_summary(build_summary(f, charts))


def from_summary(summary: dict[str, Any]) -> str:
    """The textfile for one analysis' summary dict."""
    nodes = summary.get("nodes", [])
    shards = sorted(summary.get("shards", []), key=lambda s: str(s["shard"]))
    hot = summary.get("hot_shard", {})
    checks = summary.get("self_check", {}).get("nodes", [])
    measured_by_shard: dict[str, int] = {}
    for n in nodes:
        if n.get("measured_bytes_out") is not None:
            measured_by_shard[n["shard"]] = (
                measured_by_shard.get(n["shard"], 0) + n["measured_bytes_out"]
            )
    families: list[tuple[str, str, Iterable[Sample]]] = [
        (
            "hotshard_window_seconds",
            "Length of the analyzed window.",
            [({}, summary.get("window", {}).get("duration_s"))],
        ),
        (
            "hotshard_node_out_bytes",
            "Client bytes out of a monitored node over the window: estimated from the commands, "
            "or measured by the server's INFO counters.",
            [
                (
                    {"node": n["node"], "shard": n["shard"], "role": n["role"], "source": source},
                    n[col],
                )
                for n in nodes
                for source, col in (
                    ("estimated", "est_bytes_out"),
                    ("measured", "measured_bytes_out"),
                )
            ],
        ),
        (
            "hotshard_node_cloudwatch_out_bytes",
            "CloudWatch NetworkBytesOut of the node over the window's whole minutes.",
            [
                ({"node": n["node"], "shard": n["shard"]}, n.get("cloudwatch_bytes_out"))
                for n in nodes
            ],
        ),
        (
            "hotshard_shard_out_bytes",
            "Client bytes out of a shard over the window (estimated replies; measured: sum of its "
            "monitored nodes' counters).",
            [({"shard": s["shard"], "source": "estimated"}, s.get("est_bytes_out")) for s in shards]
            + [
                ({"shard": s, "source": "measured"}, v)
                for s, v in sorted(measured_by_shard.items())
            ],
        ),
        (
            "hotshard_shard_commands",
            "Client commands a shard ran over the window.",
            [({"shard": s["shard"]}, s.get("commands")) for s in shards],
        ),
        (
            "hotshard_skew_ratio",
            "Hottest shard / median of the other shards (by bytes out, else commands).",
            [({"shard": hot.get("shard"), "basis": hot.get("basis")}, hot.get("skew_ratio"))],
        ),
        (
            "hotshard_balance_score",
            "Hottest shard / mean shard load - 1: 0 is perfectly even.",
            [({}, summary.get("balance_score"))],
        ),
        (
            "hotshard_self_check_ratio",
            "Estimated / measured client bytes out of a node (1 = the estimate explains it all).",
            [({"node": c["node"], "shard": c["shard"]}, c.get("ratio")) for c in checks],
        ),
        (
            "hotshard_top_key_out_bytes",
            f"Estimated client bytes out of the top {TOP} keys over the window.",
            [
                ({"rank": i, "key": k["key"], "shard": k["shard"]}, k.get("est_bytes_out"))
                for i, k in enumerate(summary.get("top_keys", [])[:TOP], 1)
            ],
        ),
        (
            "hotshard_top_pattern_out_bytes",
            f"Estimated client bytes out of the top {TOP} key patterns over the window.",
            [
                ({"rank": i, "pattern": p["pattern"]}, p.get("est_bytes_out"))
                for i, p in enumerate(summary.get("top_patterns", [])[:TOP], 1)
            ],
        ),
    ]
    lines = [line for family in families for line in _family(*family)]
    return "\n".join(lines) + "\n"
