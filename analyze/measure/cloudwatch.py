"""CloudWatch `NetworkBytesOut` per node over the capture window (`hotshard analyze --cloudwatch`).

What CloudWatch counts is not what hotshard estimates: `AWS/ElastiCache NetworkBytesOut` is
host-level, per minute, and includes replication and cluster-bus traffic (and whatever ran in
the minutes the capture only partly covered). Show it beside the estimate, never instead of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from hotshard.analyze.errors import AnalyzeError
from hotshard.capture.format.manifest import Manifest, NodeCapture

NAMESPACE = "AWS/ElastiCache"
METRIC = "NetworkBytesOut"
MAX_QUERIES = 500  # get_metric_data's limit per call
_CREDENTIAL_ERRORS = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException"}
)

CLOUDWATCH_SCHEMA: dict[str, pl.DataType] = {
    "node": pl.String(),  # "host:port" from the manifest (the cache cluster id when not known)
    "cache_cluster_id": pl.String(),  # e.g. "mycluster-0001-002"
    "ts": pl.Datetime("ms", "UTC"),  # start of the period
    "bytes_out": pl.Float64(),  # Sum over the period
}


class CloudWatchError(AnalyzeError):
    """CloudWatch could not be read (credentials, permissions, nodes without AWS ids)."""


@dataclass(frozen=True)
class _Target:
    node: str
    cache_cluster_id: str
    cache_node_id: str


def _targets(manifest_or_nodes: Manifest | Iterable[NodeCapture | str]) -> list[_Target]:
    nodes = (
        manifest_or_nodes.nodes if isinstance(manifest_or_nodes, Manifest) else manifest_or_nodes
    )
    out: list[_Target] = []
    for n in nodes:
        if isinstance(n, str):
            out.append(_Target(n, n, "0001"))
        elif n.aws_node_id:
            out.append(_Target(n.node, n.aws_node_id, "0001"))
    if not out:
        raise CloudWatchError(
            "no node has an AWS cache cluster id (e.g. mycluster-0001-002): capture with "
            "--cluster NAME so hotshard can match nodes to CloudWatch, or skip --cloudwatch"
        )
    return sorted(set(out), key=lambda t: (t.cache_cluster_id, t.node))


def _as_datetime(value: float | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


def _client(region: str | None) -> Any:
    import boto3

    return boto3.Session(region_name=region).client("cloudwatch")


def fetch_metric(
    manifest_or_nodes: Manifest | Iterable[NodeCapture | str],
    start: float | datetime,
    end: float | datetime,
    region: str | None = None,
    client: Any = None,
    period: int = 60,
    metric: str = METRIC,
    column: str = "bytes_out",
) -> pl.DataFrame:
    """`metric` (Stat Sum, `period` seconds, a multiple of 60) per node and period, its value
    in `column` (CLOUDWATCH_SCHEMA with `bytes_out` renamed).

    The window is widened to whole periods: CloudWatch has no finer data. Nodes are the
    manifest's nodes with an `aws_node_id` (or cache cluster ids given as strings); dimensions
    are CacheClusterId + CacheNodeId "0001". `client` is a boto3 CloudWatch client (default: one
    from AWS_PROFILE / AWS_REGION / `region`). Raises CloudWatchError with what to do next.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    if period <= 0 or period % 60:
        raise CloudWatchError(f"CloudWatch period must be a multiple of 60 seconds, not {period}")
    targets = _targets(manifest_or_nodes)
    t0, t1 = _as_datetime(start), _as_datetime(end)
    t0 = datetime.fromtimestamp(math.floor(t0.timestamp() / period) * period, UTC)
    t1 = datetime.fromtimestamp(
        max(math.ceil(t1.timestamp() / period) * period, t0.timestamp() + period), UTC
    )
    rows: list[dict[str, Any]] = []
    try:
        cw = client or _client(region)
        for i in range(0, len(targets), MAX_QUERIES):
            chunk = targets[i : i + MAX_QUERIES]
            queries = [
                {
                    "Id": f"n{i + j}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": [
                                {"Name": "CacheClusterId", "Value": t.cache_cluster_id},
                                {"Name": "CacheNodeId", "Value": t.cache_node_id},
                            ],
                        },
                        "Period": period,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for j, t in enumerate(chunk)
            ]
            by_id = {f"n{i + j}": t for j, t in enumerate(chunk)}
            token = None
            while True:
                kwargs: dict[str, Any] = {
                    "MetricDataQueries": queries,
                    "StartTime": t0,
                    "EndTime": t1,
                    "ScanBy": "TimestampAscending",
                }
                if token:
                    kwargs["NextToken"] = token
                reply = cw.get_metric_data(**kwargs)
                for result in reply.get("MetricDataResults", []):
                    t = by_id[result["Id"]]
                    for ts, value in zip(
                        result.get("Timestamps", []), result.get("Values", []), strict=False
                    ):
                        rows.append(
                            {
                                "node": t.node,
                                "cache_cluster_id": t.cache_cluster_id,
                                "ts": ts,
                                "bytes_out": float(value),
                            }
                        )
                token = reply.get("NextToken")
                if not token:
                    break
    except NoCredentialsError:
        raise CloudWatchError(
            "no AWS credentials for CloudWatch: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY), or drop --cloudwatch"
        ) from None
    except NoRegionError:
        raise CloudWatchError(
            "no AWS region for CloudWatch: set AWS_REGION or pass --region"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if (
            code.startswith("AccessDenied")
            or code == "UnauthorizedOperation"
            or (status == 403 and "AccessDenied" in message)
        ):
            raise CloudWatchError(
                "AccessDenied: this AWS identity may not call cloudwatch:GetMetricData — grant it "
                "(e.g. the CloudWatchReadOnlyAccess policy) or drop --cloudwatch"
            ) from None
        if code in _CREDENTIAL_ERRORS:
            raise CloudWatchError(
                f"AWS rejected the credentials ({code}): check AWS_PROFILE or refresh the session"
            ) from None
        raise CloudWatchError(
            f"CloudWatch get_metric_data failed: {code} {message}".strip()
        ) from None
    except BotoCoreError as exc:
        raise CloudWatchError(f"CloudWatch unreachable: {exc}") from None
    frame = (
        pl.DataFrame(rows, schema=CLOUDWATCH_SCHEMA)
        if rows
        else pl.DataFrame(schema=CLOUDWATCH_SCHEMA)
    )
    return frame.sort(["node", "ts"]).rename({"bytes_out": column})


def totals(frame: pl.DataFrame) -> pl.DataFrame:
    """Per node: cloudwatch_bytes_out (sum over the periods) and how many periods had data."""
    return (
        frame.group_by("node", "cache_cluster_id")
        .agg(cloudwatch_bytes_out=pl.col("bytes_out").sum(), periods=pl.len())
        .sort(["node", "cache_cluster_id"])
    )


def bytes_out(
    manifests: Sequence[Manifest], start: float, end: float, region: str | None = None
) -> pl.DataFrame | None:
    """NetworkBytesOut per node and minute over the window, for every capture's nodes; None
    without captures."""
    frames = [fetch_metric(m, start, end, region) for m in manifests]
    return pl.concat(frames) if frames else None


def node_totals(frame: pl.DataFrame | None) -> dict[str, float]:
    """node -> CloudWatch NetworkBytesOut over the window (whole minutes); empty without."""
    if frame is None:
        return {}
    return {node: float(total) for node, _, total, _ in totals(frame).iter_rows()}
