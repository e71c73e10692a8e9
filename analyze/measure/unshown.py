"""The bytes out MONITOR does not show, estimated from the server's own counters
(docs/RECONCILE.md, "What MONITOR does not show").

A node's measured client bytes out (analyze/measure/reconcile.py) also holds replies no MONITOR line
explains. Each is estimated per node from the INFO snapshots before and after the window and
what the capture measured once (capture/costs.py):

    rejected   replies to commands refused before running (MOVED, ASK, CROSSSLOT, NOPERM, OOM...):
               Δ errorstats × the size of that error reply (MOVED/ASK: averaged over the slots a
               redirection can name, with the owner's address from the manifest)
    admin      commands that ran but MONITOR hides (flagged `admin`: CLIENT LIST, CONFIG GET,
               SLOWLOG...): Δ commandstats minus the capture's own calls, × the reply size the
               capture measured on that node (CLIENT LIST); the others are counted, not sized
    info       INFO lines MONITOR shows whose reply the model leaves unknown: × the INFO reply the
               capture measured (without arguments; INFO with sections is counted, not sized)
    command    COMMAND lines (a cluster client asks it when it starts: hundreds of kB), alike:
               × the COMMAND reply the capture measured on the wire (RESP2)
    pubsub     messages pushed to subscribers (no MONITOR line on their node): PUBLISH lines of
               every monitored node × this node's subscribers (a plain PUBLISH reaches every node
               of a cluster) × the message's size — which is the PUBLISH command's own size
               (`*3 $7 message $chan $msg` vs `*3 $7 PUBLISH $chan $msg`; SPUBLISH/smessage
               alike); SPUBLISH by its channel's subscribers on the nodes of its shard; the
               PUBLISH replies (`:<receivers>`), which the model leaves unknown
    replication  a replica's `REPLCONF ACK` to its primary, once a second (client output in the
               server's counters)
Replication output is its own figure (`replication`): client and script writes × replicas,
next to the measured Δ `total_net_repl_output_bytes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.capture.format import resp
from hotshard.capture.format.commands import commands
from hotshard.capture.format.counters import calls_delta, counters_reset
from hotshard.capture.format.manifest import InfoSnapshot, Manifest, NodeCapture

SLOTS = 16384
# Hidden commands that send no reply worth counting: a replica's REPLCONF ACK is not answered.
_NO_REPLY = frozenset({"replconf", "psync", "sync"})

# Error replies sent for commands refused before they ran: never on MONITOR. The texts are
# Redis 7.0's (`-` and CRLF added by `resp.error`); `{cmd}` is unknown, so NOPERM is estimated.
REJECTED: dict[str, str] = {
    "CROSSSLOT": "CROSSSLOT Keys in request don't hash to the same slot",
    "CLUSTERDOWN": "CLUSTERDOWN The cluster is down",
    "TRYAGAIN": "TRYAGAIN Multiple keys request during rehashing of slot",
    "NOPERM": "NOPERM this user has no permissions to run the 'get' command",
    "NOAUTH": "NOAUTH Authentication required.",
    "OOM": "OOM command not allowed when used memory > 'maxmemory'.",
    "READONLY": "READONLY You can't write against a read only replica.",
    "LOADING": "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN": "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "NOREPLICAS": "NOREPLICAS Not enough good replicas to write.",
}
_EXACT_TEXT = frozenset({"CROSSSLOT", "NOAUTH", "OOM", "TRYAGAIN", "READONLY"})
REDIRECTS = ("MOVED", "ASK")


@dataclass(frozen=True)
class Part:
    """One kind of bytes out MONITOR does not show, on one node."""

    kind: str  # rejected | admin | info | command | pubsub | replication
    name: str  # MOVED, client|list, info, PUBLISH pushes, ...
    count: int  # replies (errors, calls, messages)
    bytes: int | None  # None: counted but not sized
    basis: str  # measured | formula | estimated | unsized


@dataclass(frozen=True)
class Replication:
    estimated: int | None  # writes' request bytes × replicas
    measured: int | None  # Δ total_net_repl_output_bytes


def traffic(rows: pl.LazyFrame) -> pl.DataFrame:
    """Per node, origin, command and confidence: rows, known reply bytes, request bytes, rows
    without arguments, rows with no estimate. One pass over the narrow columns."""
    return (
        rows.filter(pl.col("origin").is_in([schema.ORIGIN_CLIENT, schema.ORIGIN_SCRIPT]))
        .group_by("node", "shard", "origin", "command", "reply_confidence")
        .agg(
            rows=pl.len().cast(pl.Int64),
            reply_bytes=pl.col("reply_bytes").sum().cast(pl.Int64),
            request_bytes=pl.col("request_bytes").sum().cast(pl.Int64),
            bare=(pl.col("arg_count") == 0).sum().cast(pl.Int64),
            unsized=pl.col("reply_bytes").is_null().sum().cast(pl.Int64),
            bare_unsized=((pl.col("arg_count") == 0) & pl.col("reply_bytes").is_null())
            .sum()
            .cast(pl.Int64),
        )
        .collect()
        .sort("node", "origin", "command", "reply_confidence")
    )


def shard_publishes(rows: pl.LazyFrame) -> pl.DataFrame:
    """SPUBLISH by shard and channel (its key): messages and their bytes."""
    return (
        rows.filter((pl.col("origin") == schema.ORIGIN_CLIENT) & (pl.col("command") == "spublish"))
        .group_by("shard", "key_name")
        .agg(rows=pl.len().cast(pl.Int64), request_bytes=pl.col("request_bytes").sum())
        .collect()
        .sort("shard", "key_name")
    )


_SHOWN = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


def hidden_commands(commands_reply: list[Any] | None) -> frozenset[str]:
    """Commands (and subcommands, `client|list`) MONITOR never shows: flagged admin or
    skip_monitor in the server's saved COMMAND reply."""
    # Scripts are flagged skip_monitor, yet MONITOR shows their calls (and the model sizes
    # them: analyze/estimate/scripts.py).
    out = {
        c.name
        for c in commands(commands_reply, subcommands=True)
        if {"admin", "skip_monitor"} & c.flags and c.name not in _SHOWN
    }
    return frozenset(out)


def _errors(snap: InfoSnapshot | None) -> dict[str, int]:
    stats = (snap.sections.get("errorstats") if snap else None) or {}
    return {
        k.removeprefix("errorstat_"): int(v.get("count", 0))
        for k, v in stats.items()
        if isinstance(v, dict)
    }


def errors_delta(node: NodeCapture) -> dict[str, int]:
    """Δ errorstats per error code over the window (Redis >= 6.2); {} when unknown."""
    if node.info_before is None or node.info_after is None:
        return {}
    b, a = _errors(node.info_before), _errors(node.info_after)
    return {code: a[code] - b.get(code, 0) for code in sorted(a) if a[code] > b.get(code, 0)}


def redirect_size(manifest: Manifest, node: NodeCapture, code: str) -> float | None:
    """Average bytes of `-MOVED <slot> <host>:<port>` from `node`: over the slots other shards
    own (a primary), or over every slot (a replica redirects its own shard's too, to its
    primary). None when the manifest does not know the owners."""
    owners: list[tuple[list[tuple[int, int]], str]] = []
    for shard in manifest.shards:
        if not shard.primary or (node.role == "primary" and shard.shard == node.shard):
            continue
        owners.append((shard.slots, shard.primary))
    total = count = 0
    for ranges, address in owners:
        for lo, hi in ranges:
            total += sum(resp.error(f"{code} {slot} {address}") for slot in range(lo, hi + 1))
            count += hi - lo + 1
    return total / count if count else None


def rejected_parts(manifest: Manifest, node: NodeCapture) -> list[Part]:
    parts = []
    for code, count in errors_delta(node).items():
        if code in REDIRECTS:
            avg = redirect_size(manifest, node, code)
            size = None if avg is None else round(avg * count)
            parts.append(Part("rejected", code, count, size, "formula" if size else "unsized"))
        elif code in REJECTED:
            basis = "formula" if code in _EXACT_TEXT else "estimated"
            parts.append(Part("rejected", code, count, count * resp.error(REJECTED[code]), basis))
    return parts


def _own(own: dict[str, int], name: str) -> int:
    """The tool's own calls of `name`; a container (`client` on Redis 6.2) sums its children."""
    total = own.get(name, 0)
    if "|" not in name:
        total += sum(v for k, v in own.items() if k.startswith(name + "|"))
    return total


def admin_parts(node: NodeCapture, hidden: frozenset[str]) -> list[Part]:
    """Hidden commands other clients ran; empty when the capture did not record its own."""
    if node.own_calls is None or node.info_before is None or node.info_after is None:
        return []
    parts = []
    for name, calls in sorted(calls_delta(node.info_before, node.info_after).items()):
        if name not in hidden or name in _NO_REPLY:
            continue
        others = calls - _own(node.own_calls, name)
        if others <= 0:
            continue
        size = node.reply_sizes.get(name)
        through = client_list_through_window(node) if name == "client|list" else None
        if through is not None:
            parts.append(Part("admin", name, others, round(others * through), "polls"))
        elif size is None:
            parts.append(Part("admin", name, others, None, "unsized"))
        else:
            parts.append(Part("admin", name, others, others * size, "measured"))
    return parts


def client_list_through_window(node: NodeCapture) -> float | None:
    """The average size of a `CLIENT LIST` reply over the window: the reply measured once, its
    lines following the connected clients each INFO poll counted (bytes per line as measured).
    None without polls that count clients (Redis < 7, format < 6) or without the measurement."""
    size, lines, clients = (
        node.reply_sizes.get("client|list"),
        node.client_list_lines,
        node.client_list_clients,
    )
    counted = [(p.at, p.connected_clients) for p in node.polls if p.connected_clients is not None]
    if size is None or not lines or clients is None or not counted:
        return None
    # Through the window, time-weighted: from the measurement (at the window's start) through
    # the polls to the "after" snapshot's count.
    if node.info_before is not None:
        counted.insert(0, (node.info_before.at, clients))
    after = node.info_after.sections.get("clients", {}) if node.info_after else {}
    if node.info_after is not None and isinstance(after.get("connected_clients"), int):
        counted.append((node.info_after.at, after["connected_clients"]))
    # The reply is one bulk string: its payload is L where L + digits(L) + 5 = size.
    text = next((n for d in range(1, 12) if len(str(n := size - 5 - d)) == d), size)
    per_line = text / lines
    span = counted[-1][0] - counted[0][0]
    if span > 0:
        average = sum((t1 - t0) * (c0 + c1) / 2 for (t0, c0), (t1, c1) in pairwise(counted)) / span
    else:
        average = sum(c for _, c in counted) / len(counted)
    return resp.bulk(round((lines - clients + average) * per_line))


def _sum(df: pl.DataFrame, column: str) -> int:
    return int(df[column].sum() or 0) if df.height else 0


def info_parts(node: NodeCapture, rows: pl.DataFrame) -> list[Part]:
    """INFO and COMMAND lines of clients on `node` that the model left unsized (`rows`:
    `traffic`), each bare one (no arguments) × the reply the capture measured on the node."""
    parts = []
    for command, other in (("info", "sections"), ("command", "arguments")):
        lines = rows.filter(
            (pl.col("node") == node.node)
            & (pl.col("origin") == schema.ORIGIN_CLIENT)
            & (pl.col("command") == command)
        )
        unsized, bare = _sum(lines, "unsized"), _sum(lines, "bare_unsized")
        if not unsized:
            continue
        size = node.reply_sizes.get(command)
        if bare and size is not None:
            parts.append(Part(command, command, bare, bare * size, "measured"))
            unsized -= bare
        if unsized:
            parts.append(Part(command, f"{command} (with {other})", unsized, None, "unsized"))
    return parts


def pubsub_parts(
    node: NodeCapture, rows: pl.DataFrame, sharded: pl.DataFrame, publish_bytes: int, publishes: int
) -> list[Part]:
    """Messages pushed to this node's subscribers, and its PUBLISH replies."""
    if node.pubsub is None:
        return []
    parts = []
    channels: dict[str, int] = node.pubsub.get("channels") or {}
    subs = sorted(channels.values())
    if publishes and subs:
        # PUBLISH lines carry their channel, the rows do not: with one subscribed channel each
        # message reached its subscribers; with several, the average is an estimate.
        one = len(subs) == 1
        each = subs[0] if one else sum(subs) / len(subs)
        parts.append(
            Part(
                "pubsub",
                "PUBLISH pushes",
                round(publishes * each),
                round(publish_bytes * each),
                "measured" if one else "estimated",
            )
        )
    own = rows.filter(
        (pl.col("node") == node.node)
        & (pl.col("origin") == schema.ORIGIN_CLIENT)
        & (pl.col("command") == "publish")
    )
    mine = _sum(own, "unsized")
    if mine:
        each = round(sum(subs) / len(subs)) if subs else 0
        basis = "measured" if len(subs) <= 1 else "estimated"
        parts.append(Part("pubsub", "PUBLISH replies", mine, mine * resp.integer(each), basis))
    shard_subs: dict[str, int] = node.pubsub.get("shard_channels") or {}
    here = sharded.filter(pl.col("shard") == node.shard)
    if here.height and shard_subs:
        pushed = messages = 0
        for channel, n, size in here.select("key_name", "rows", "request_bytes").iter_rows():
            k = shard_subs.get(channel, 0)
            pushed, messages = pushed + size * k, messages + n * k
        if messages:
            parts.append(Part("pubsub", "SPUBLISH pushes", messages, pushed, "measured"))
    return parts


def ack_parts(node: NodeCapture) -> list[Part]:
    """A replica's `REPLCONF ACK <offset>` to its primary, once a second: client output in
    the server's counters, never on MONITOR."""
    before, after = node.info_before, node.info_after
    if node.role != "replica" or before is None or after is None:
        return []
    acks = int(after.at - before.at)  # the cron's phase is unknown: ±1
    offset = after.sections.get("replication", {}).get("master_repl_offset")  # as acked
    if acks <= 0 or not isinstance(offset, int):
        return []
    size = resp.command([b"REPLCONF", b"ACK", str(offset).encode()])
    return [Part("replication", "REPLCONF ACK", acks, acks * size, "estimated")]


def replication(
    node: NodeCapture, rows: pl.DataFrame, replicas: int, writes: Iterable[str]
) -> Replication:
    from hotshard.analyze.measure.reconcile import measured_repl_bytes_out

    if node.role != "primary" or not replicas:
        return Replication(estimated=0, measured=measured_repl_bytes_out(node))
    w = rows.filter(
        (pl.col("node") == node.node)
        & pl.col("origin").is_in([schema.ORIGIN_CLIENT, schema.ORIGIN_SCRIPT])
        & pl.col("command").is_in(sorted(writes))
    )
    return Replication(
        estimated=_sum(w, "request_bytes") * replicas, measured=measured_repl_bytes_out(node)
    )


def node_parts(
    manifest: Manifest,
    node: NodeCapture,
    rows: pl.DataFrame,
    sharded: pl.DataFrame,
    hidden: frozenset[str],
) -> list[Part]:
    """Every part above for one monitored node (none when its counters restarted)."""
    if counters_reset(node.info_before, node.info_after):
        return []
    client_publish = rows.filter(
        (pl.col("origin") == schema.ORIGIN_CLIENT) & (pl.col("command") == "publish")
    )
    return [
        *ack_parts(node),
        *rejected_parts(manifest, node),
        *admin_parts(node, hidden),
        *info_parts(node, rows),
        *pubsub_parts(
            node,
            rows,
            sharded,
            _sum(client_publish, "request_bytes"),
            _sum(client_publish, "rows"),
        ),
    ]
