"""Is a node near its network allowance? Bytes/s per node against its node type's bandwidth.

The question behind a hot `NetworkBytesOut` graph is usually "are we near the instance's limit?".
EC2/ElastiCache "up to" bandwidth bursts for minutes on network I/O credits, then throttles to
the type's baseline; CloudWatch's `NetworkBandwidthOutAllowanceExceeded` counts the packets
shaped. With `--cloudwatch`, each node's `CacheNodeType` comes from AWS and its bandwidth from
analyze/data/node_bandwidth.toml (source and date inside, easy to update). Replication output
counts toward the allowance: it is shown beside the client bytes.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze import humanize
from hotshard.analyze.measure import cloudwatch
from hotshard.analyze.measure.selfcheck import SelfCheck
from hotshard.analyze.read.window import Window
from hotshard.capture.format.manifest import Manifest

TABLE = Path(__file__).parents[1] / "data" / "node_bandwidth.toml"
ALLOWANCE_METRIC = "NetworkBandwidthOutAllowanceExceeded"
GBPS = 1e9 / 8  # bytes/s in one Gbps
NEAR = 0.8  # a peak minute above this share of the baseline is "near the limit"


@dataclass(frozen=True)
class NodeType:
    baseline_gbps: float
    burst_gbps: float | None = None


@dataclass(frozen=True)
class Table:
    types: dict[str, NodeType]
    source: str
    retrieved: str


def table(path: Path = TABLE) -> Table:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    types = {
        name: NodeType(float(v["baseline"]), float(v["burst"]) if "burst" in v else None)
        for name, v in data.get("types", {}).items()
    }
    return Table(types, str(data.get("source", "")), str(data.get("retrieved", "")))


@dataclass(frozen=True)
class NodeAllowance:
    """One node over the window; rates in bytes/s."""

    node: str
    shard: str
    role: str
    node_type: str | None
    baseline: float | None  # bytes/s
    burst: float | None
    cloudwatch_avg: float | None  # NetworkBytesOut over the window's whole minutes
    cloudwatch_peak: float | None  # the busiest minute
    client: float | None  # client bytes out: measured by INFO, else estimated
    client_source: str | None  # measured | estimated
    replication: float | None  # replication output (measured, else estimated)
    exceeded: float | None  # NetworkBandwidthOutAllowanceExceeded, summed over the minutes

    @property
    def peak_share(self) -> float | None:
        """Busiest minute / baseline."""
        if self.cloudwatch_peak is None or not self.baseline:
            return None
        return self.cloudwatch_peak / self.baseline


@dataclass(frozen=True)
class Network:
    nodes: tuple[NodeAllowance, ...]
    source: str
    retrieved: str
    warnings: tuple[str, ...] = ()


def build(
    nodes: Sequence[tuple[str, str, str]],
    node_types: dict[str, str],
    per_minute: pl.DataFrame | None,
    allowance: pl.DataFrame | None,
    client: dict[str, tuple[int, str]],
    replication: dict[str, int | None],
    duration: float,
    warnings: Iterable[str] = (),
    bandwidth: Table | None = None,
) -> Network:
    """Per (node, shard, role): its type's bandwidth beside what CloudWatch and the capture saw.
    `per_minute` {node, bytes_out} and `allowance` {node, exceeded} are per-minute CloudWatch
    sums; `client` node -> (bytes, "measured"|"estimated"); `replication` node -> bytes."""
    bandwidth = bandwidth or table()
    duration = max(duration, 1.0)
    cw = _per_node(per_minute, "bytes_out")
    shaped = _per_node(allowance, "exceeded")
    out = []
    for node, shard, role in sorted(nodes, key=lambda n: (n[1], n[0], n[2])):
        kind = node_types.get(node)
        spec = bandwidth.types.get(kind) if kind else None
        total, peak, minutes = cw.get(node, (None, None, 0))
        client_bytes, source = client.get(node, (None, None))
        repl = replication.get(node)
        out.append(
            NodeAllowance(
                node=node,
                shard=shard,
                role=role,
                node_type=kind,
                baseline=spec.baseline_gbps * GBPS if spec else None,
                burst=spec.burst_gbps * GBPS if spec and spec.burst_gbps else None,
                cloudwatch_avg=total / (minutes * 60) if total is not None and minutes else None,
                cloudwatch_peak=peak / 60 if peak is not None else None,
                client=client_bytes / duration if client_bytes is not None else None,
                client_source=source,
                replication=repl / duration if repl is not None else None,
                exceeded=shaped[node][0] if node in shaped else None,
            )
        )
    return Network(tuple(out), bandwidth.source, bandwidth.retrieved, tuple(warnings))


def measure(
    manifests: Sequence[Manifest],
    window: Window,
    region: str | None,
    per_minute: pl.DataFrame | None,
    check: SelfCheck,
    duration: float,
) -> Network | None:
    """Each node's bytes/s against its node type's bandwidth, with the allowance CloudWatch
    counted as exceeded; None unless CloudWatch was read (`per_minute`) over a known window."""
    start, end = window.start, window.end
    if per_minute is None or start is None or end is None:
        return None
    warnings: list[str] = []
    frames = []
    for m in manifests:
        try:
            frames.append(
                cloudwatch.fetch_metric(
                    m, start, end, region, metric=ALLOWANCE_METRIC, column="exceeded"
                )
            )
        except cloudwatch.CloudWatchError as exc:
            warnings.append(f"{ALLOWANCE_METRIC} unknown: {exc}")
    types, type_warnings = node_types(manifests, region)
    nodes = sorted({(n.node, n.shard, n.role) for m in manifests for n in m.nodes})
    client: dict[str, tuple[int, str]] = {}
    replication: dict[str, int | None] = {}
    for n in check.nodes:
        client[n.node] = (
            (n.measured, "measured") if n.measured is not None else (n.estimated, "estimated")
        )
        rep = n.replication
        replication[n.node] = rep.measured if rep.measured is not None else rep.estimated
    return build(
        nodes,
        types,
        per_minute,
        pl.concat(frames) if frames else None,
        client,
        replication,
        duration,
        [*warnings, *type_warnings],
    )


def _per_node(frame: pl.DataFrame | None, column: str) -> dict[str, tuple[float, float, int]]:
    """node -> (sum, max, minutes) of a per-minute CloudWatch frame."""
    if frame is None or frame.is_empty():
        return {}
    df = (
        frame.group_by("node")
        .agg(pl.col(column).sum().alias("sum"), pl.col(column).max().alias("max"), pl.len())
        .sort("node")
    )
    return {n: (float(s), float(m), int(k)) for n, s, m, k in df.iter_rows()}


def relabel(
    net: Network | None, node: Callable[[str], str | None], text: Callable[[str], str]
) -> Network | None:
    """The same table with each node's label (`--redact`: no addresses) and warnings passed
    through `text`."""
    if net is None:
        return None
    nodes = tuple(dataclasses.replace(n, node=node(n.node) or n.node) for n in net.nodes)
    return dataclasses.replace(net, nodes=nodes, warnings=tuple(text(w) for w in net.warnings))


# -- AWS ------------------------------------------------------------------------------------
def node_types(
    manifests: Iterable[Manifest], region: str | None = None, client: Any = None
) -> tuple[dict[str, str], list[str]]:
    """node ("host:port") -> CacheNodeType, from `describe_replication_groups` (one type per
    group) refined by `describe_cache_clusters` per member when it answers; and warnings."""
    from botocore.exceptions import BotoCoreError

    out: dict[str, str] = {}
    warnings: list[str] = []
    try:
        ec = client or _client(region)
    except BotoCoreError as exc:
        return {}, [f"node types unknown: {exc}"]
    for m in manifests:
        group_type = None
        if m.cluster:
            group_type, why = _node_type(
                ec.describe_replication_groups, "ReplicationGroups", ReplicationGroupId=m.cluster
            )
            if why:
                warnings.append(f"node types of {m.cluster} unknown: {why}")
        for n in m.nodes:
            kind = group_type
            if n.aws_node_id:  # the member's own type, else the group's
                member, _ = _node_type(
                    ec.describe_cache_clusters, "CacheClusters", CacheClusterId=n.aws_node_id
                )
                kind = member or kind
            if kind:
                out[n.node] = kind
    return out, warnings


def _node_type(call: Callable[..., Any], key: str, **ask: str) -> tuple[str | None, str]:
    """The CacheNodeType of the first item under `key` in `call(**ask)`'s reply, and why not
    ("" when answered)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        reply = call(**ask)
    except (BotoCoreError, ClientError) as exc:
        return None, _why(exc)
    return next((item.get("CacheNodeType") for item in reply.get(key, [])), None), ""


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', '')} {error.get('Message', '')}".strip()
    return str(exc)


def _client(region: str | None) -> Any:
    import boto3

    return boto3.Session(region_name=region).client("elasticache")


# -- outputs --------------------------------------------------------------------------------
def _rate(v: float | None) -> str:
    return "—" if v is None else f"{humanize.size(v)}/s"


def section(net: Network | None) -> str:
    """The report's "Network allowance" section ("" without --cloudwatch)."""
    if net is None or not net.nodes:
        return ""
    rows = [
        "| Node | Shard | Role | Type | Baseline | Burst | CloudWatch out (avg) | Busiest minute "
        "| Of baseline | Client out | Replication out | Allowance exceeded |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in net.nodes:
        client = _rate(n.client) + (" (est.)" if n.client_source == "estimated" else "")
        rows.append(
            f"| {humanize.cell(humanize.code(n.node))} | {humanize.cell(humanize.printable(n.shard))} "
            f"| {n.role} | {humanize.cell(n.node_type or '—')} | {_rate(n.baseline)} "
            f"| {_rate(n.burst)} | {_rate(n.cloudwatch_avg)} | {_rate(n.cloudwatch_peak)} "
            f"| {humanize.percent(n.peak_share)} | {client} | {_rate(n.replication)} "
            f"| {humanize.count(n.exceeded)} |"
        )
    near = [n for n in net.nodes if n.peak_share is not None and n.peak_share >= NEAR]
    shaped = [n for n in net.nodes if n.exceeded]
    lines = []
    if shaped:
        names = ", ".join(humanize.code(n.node) for n in shaped)
        lines.append(
            f"**{names} hit the bandwidth allowance** (`{ALLOWANCE_METRIC}` > 0): packets were "
            "shaped — the node is throttled to its baseline; latency and timeouts follow."
        )
    elif near:
        names = ", ".join(humanize.code(n.node) for n in near)
        lines.append(
            f"**{names} ran above {humanize.percent(NEAR)} of the baseline** in its busiest "
            "minute: a burst credit balance is being spent."
        )
    notes = (
        "CloudWatch's `NetworkBytesOut` is host-level (clients, replication, cluster bus); the "
        "baseline is what the node sustains, the burst what it reaches for a while on network "
        "credits. Replication output — each write once per replica, from the primary — counts "
        f"toward the allowance. Bandwidths: [{net.source}]({net.source}), retrieved "
        f"{net.retrieved} (analyze/data/node_bandwidth.toml); a type not listed shows no limit."
    )
    warn = "\n".join(f"- {w}" for w in net.warnings)
    body = "\n\n".join(p for p in ["\n".join(lines), "\n".join(rows), notes, warn] if p)
    return f"## Network allowance\n\n{body}"


def to_json(net: Network | None) -> dict[str, Any] | None:
    """summary.json's `network` (docs/SUMMARY_SCHEMA.md); null without --cloudwatch."""
    if net is None:
        return None

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 6)

    return {
        "source": net.source,
        "retrieved": net.retrieved,
        "nodes": [
            {
                "node": n.node,
                "shard": n.shard,
                "role": n.role,
                "node_type": n.node_type,
                "baseline_bytes_per_s": r(n.baseline),
                "burst_bytes_per_s": r(n.burst),
                "cloudwatch_avg_bytes_per_s": r(n.cloudwatch_avg),
                "cloudwatch_peak_bytes_per_s": r(n.cloudwatch_peak),
                "peak_share_of_baseline": r(n.peak_share),
                "client_bytes_per_s": r(n.client),
                "client_source": n.client_source,
                "replication_bytes_per_s": r(n.replication),
                "allowance_exceeded": r(n.exceeded),
            }
            for n in net.nodes
        ],
    }
