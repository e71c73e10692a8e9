"""A fixed input for the chart goldens: the test workload plus a timeline of three shards with a
primary and a replica each, measured by INFO polls and by CloudWatch (bytes per minute)."""

from __future__ import annotations

import dataclasses

import polars as pl

from hotshard.analyze.findings.found import Findings
from hotshard.analyze.findings.timeline import INTERVAL_SCHEMA, MINUTE_SCHEMA, Timeline
from tests.frames import findings, workload

T0 = 1_700_000_040.0  # a minute boundary
NODES = [  # node, shard, role, estimated bytes per 5 s, ElastiCache node id
    ("10.0.0.1:6379", "0001", "replica", 40_000_000, "app-0001-002"),
    ("10.0.0.11:6379", "0001", "primary", 2_000_000, "app-0001-001"),
    ("10.0.0.2:6379", "0002", "replica", 60_000, "app-0002-002"),
    ("10.0.0.12:6379", "0002", "primary", 9_000, "app-0002-001"),
    ("10.0.0.3:6379", "0003", "replica", 1_500, "app-0003-002"),
    ("10.0.0.13:6379", "0003", "primary", 0, "app-0003-001"),
]


def chart_findings() -> Findings:
    f = findings(workload(), top=10)
    intervals, minutes = [], []
    for node, shard, role, base, _ in NODES:
        for k in range(24):  # two minutes of 5 s polls
            est = base * (1 + (k % 5) / 10)
            intervals.append(
                {"node": node, "shard": shard, "role": role, "start": T0 + 5 * k,
                 "end": T0 + 5 * (k + 1), "commands": 10 + k, "est_bytes_out": round(est),
                 "measured_bytes_out": round(est * 1.02), "commands_processed": 12 + k}
            )  # fmt: skip
        for m in range(2):
            est = sum(i["est_bytes_out"] for i in intervals[-24:][12 * m : 12 * (m + 1)])
            minutes.append(
                {"node": node, "shard": shard, "role": role, "minute": int(T0) + 60 * m,
                 "commands": 100, "est_bytes_out": est, "measured_bytes_out": round(est * 1.02),
                 "cloudwatch_bytes_out": float(round(est * 1.1) + 50_000)}
            )  # fmt: skip
    timeline = Timeline(
        intervals=pl.DataFrame(intervals, schema=INTERVAL_SCHEMA),
        minutes=pl.DataFrame(minutes, schema=MINUTE_SCHEMA),
        bin_seconds=5,
        measured=True,
        cloudwatch=True,
    )
    return dataclasses.replace(f, timeline=timeline, node_ids={n: i for n, _, _, _, i in NODES})
