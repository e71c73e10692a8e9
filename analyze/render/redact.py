"""`--redact`: outputs that can be pasted into an incident channel or a ticket.

Key names carry user ids, e-mail addresses and tokens; client and node addresses name internal
hosts. A redacted analysis shows

- a key as its pattern plus a short keyed hash of the whole name, `user:{EMAIL}:cart#5f0e1a9c`:
  the same key gets the same tag in every run made with the same secret (`--redact-key` or
  `HOTSHARD_REDACT_KEY`), so two redacted reports can be compared; without a secret, a random
  one per run (tags then differ between runs). A pattern with no placeholder is the key itself,
  so it is shown as `{KEY}`;
- a client address as its host's tag, `host#1c2d3e4f` (all connections of a host stay one row);
- a server node as its ElastiCache node id when the capture knows it, else `0001-replica`
  (shard and role; a number when a shard has more than one node of that role);
- no argument values (the report never shows them), and no commands table: the SQLite file,
  the Parquet tables and the sampled key sizes are left out of a redacted output folder.

A keyed hash (HMAC-SHA256), not a plain one: key names are guessable (`user:1` … `user:99999`),
so an unkeyed hash would be reversed by trying them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from hotshard.analyze.findings import slotload, slotplan
from hotshard.analyze.findings.verdict import recommendations
from hotshard.analyze.measure import bandwidth

if TYPE_CHECKING:
    from hotshard.analyze.findings.found import Findings

ENV = "HOTSHARD_REDACT_KEY"
TAG_CHARS = 8
_PLACEHOLDER = re.compile(r"\{[A-Z]+\}")


@dataclass
class Redactor:
    secret: bytes
    per_run: bool = False  # the secret is random: tags are not comparable across runs
    nodes: dict[str, str] = field(default_factory=dict)  # address -> label
    hosts: dict[str, str] = field(default_factory=dict)  # client address -> tag, as seen

    @classmethod
    def create(cls, key: str | None = None) -> Redactor:
        secret = key if key is not None else os.environ.get(ENV)
        if secret:
            return cls(secret.encode())
        return cls(secrets.token_bytes(32), per_run=True)

    def tag(self, value: str) -> str:
        digest = hmac.new(self.secret, value.encode("utf-8", "surrogateescape"), hashlib.sha256)
        return digest.hexdigest()[:TAG_CHARS]

    def pattern(self, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        return pattern if _PLACEHOLDER.search(pattern) else "{KEY}"

    def key(self, name: str | None, pattern: str | None = None) -> str | None:
        if name is None:
            return None
        return f"{self.pattern(pattern if pattern is not None else name)}#{self.tag(name)}"

    def client(self, client: str | None, kind: str | None = "ip") -> str | None:
        if client is None or kind == "internal" or client == "(internal)":
            return client
        label = self.hosts.get(client)
        if label is None:
            label = f"{'unix' if kind == 'unix' else 'host'}#{self.tag('client ' + client)}"
            self.hosts[client] = label
        return label

    def node(self, address: str | None) -> str | None:
        if address is None or address == "unknown":
            return address
        return self.nodes.get(address) or f"node#{self.tag('node ' + address)}"

    def learn_nodes(self, nodes: Iterable[tuple[str, str, str]], ids: dict[str, str]) -> None:
        """Label each (address, shard, role): its ElastiCache node id, else shard and role."""
        rows = sorted(set(nodes))
        for address, shard, role in rows:
            if address in ids:
                self.nodes[address] = ids[address]
                continue
            same = [a for a, s, r in rows if (s, r) == (shard, role) and a not in ids]
            label = f"{shard}-{role}"
            if len(same) > 1:
                label += f"-{same.index(address) + 1}"
            self.nodes[address] = label

    def text(self, text: str) -> str:
        """Free text (warnings, notes, file names): every known address by its label."""
        pairs: list[tuple[str, str]] = []
        for address, label in self.nodes.items():
            pairs.append((address, label))
            host, _, port = address.rpartition(":")
            if host:
                pairs.append((f"{host}_{port}", label))  # capture file names
        pairs += list(self.hosts.items())
        for original, label in sorted(pairs, key=lambda p: (-len(p[0]), p[0])):
            text = text.replace(original, label)
        return text


def _mapped(df: pl.DataFrame, column: str, fn: Callable[..., str | None], *by: str) -> pl.DataFrame:
    """`column` replaced by `fn(column, *by)` per distinct value (one call per distinct row)."""
    if column not in df.columns or df.is_empty():
        return df
    inputs = [column, *(b for b in by if b in df.columns)]
    distinct = df.select(inputs).unique()
    out = [fn(*row) for row in distinct.iter_rows()]
    mapping = distinct.with_columns(pl.Series("_redacted", out, dtype=pl.String))
    return (
        df.join(mapping, on=inputs, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(pl.col("_redacted").alias(column))
        .drop("_redacted")
    )


def _signature(r: Redactor, signature: str | None) -> str | None:
    if signature is None:
        return None
    parts = signature.split(" | ")
    if len(parts) >= 2:
        parts[1] = r.pattern(parts[1]) or parts[1]
    return " | ".join(parts)


def frame(r: Redactor, df: pl.DataFrame) -> pl.DataFrame:
    """Any rollup or commands frame with its key, client and node columns redacted."""
    if "key_name" in df.columns:
        df = _mapped(df, "key_name", lambda k, p=None: r.key(k, p), "key_pattern")
    for column in ("key_pattern", "pattern"):
        df = _mapped(df, column, r.pattern)
    if "keys" in df.columns and df.schema["keys"] == pl.List(pl.String):
        df = df.with_columns(
            pl.col("keys").list.eval(pl.element().map_elements(r.key, return_dtype=pl.String))
        )
    df = _mapped(df, "signature", lambda s: _signature(r, s))
    df = _mapped(df, "client_id", lambda c, k="ip": r.client(c, k), "client_kind")
    df = _mapped(df, "client", lambda c, k="ip": r.client(c, k), "client_kind")
    df = _mapped(df, "client_ip", lambda c: r.client(c))
    df = _mapped(df, "node", r.node)
    df = _mapped(df, "source", r.text)
    if "error_examples" in df.columns:  # whole MONITOR lines: keys and arguments
        df = df.with_columns(pl.lit([], pl.List(pl.String)).alias("error_examples"))
    return df


def findings(f: Findings, red: Redactor, key_sizes: pl.DataFrame | None = None) -> Findings:
    """A copy of the findings with nothing in it that names a key, a client or a node address;
    recommendations are made again from the redacted rollups (their text quotes keys)."""
    red.learn_nodes(f.rollups.nodes.select("node", "shard", "role").iter_rows(), f.node_ids)
    ro = f.rollups
    # Client addresses first: the text redaction below replaces the ones seen.
    clients = frame(red, ro.clients)
    fields: dict[str, Any] = {
        name: frame(red, getattr(ro, name))
        for name in (
            "shards",
            "nodes",
            "shard_commands",
            "hot_keys",
            "patterns",
            "signatures",
            "slots",
            "series",
            "large_ops",
            "node_series",
            "shard_patterns",
        )
    }
    rollups = dataclasses.replace(ro, clients=clients, **fields)
    if key_sizes is not None and key_sizes.height:
        names = dict(
            zip(
                ro.large_ops["key_name"].to_list(),
                rollups.large_ops["key_name"].to_list(),
                strict=True,
            )
        )
        key_sizes = key_sizes.filter(pl.col("key").is_in(list(names))).with_columns(
            pl.col("key").replace_strict(names, return_dtype=pl.String)
        )
    timeline = f.timeline
    if timeline is not None:
        timeline = dataclasses.replace(
            timeline, intervals=frame(red, timeline.intervals), minutes=frame(red, timeline.minutes)
        )
    check = f.self_check
    check = dataclasses.replace(
        check,
        nodes=[
            dataclasses.replace(
                n,
                node=red.node(n.node) or n.node,
                parts=tuple(
                    dataclasses.replace(p, name=red.tag("channel " + p.name))
                    if p.kind == "pubsub"
                    else p
                    for p in n.parts
                ),
            )
            for n in check.nodes
        ],
    )
    slot_stats = dataclasses.replace(f.slot_stats, notes=[red.text(n) for n in f.slot_stats.notes])
    return dataclasses.replace(
        f,
        line_stats=frame(red, f.line_stats),
        rollups=rollups,
        recommendations=recommendations(rollups, f.verdict, key_sizes),
        warnings=[red.text(w) for w in f.warnings],
        measured_bytes_out={red.node(k) or k: v for k, v in f.measured_bytes_out.items()},
        cloudwatch_bytes_out={red.node(k) or k: v for k, v in f.cloudwatch_bytes_out.items()},
        slot_stats=slot_stats,
        timeline=timeline,
        self_check=check,
        node_ids={},  # the nodes are their labels now
        database=False,
        # The plan from the redacted rollups, without the primaries' addresses and ids or the
        # sampled key names; the allowance table with node labels.
        plan=slotplan.build(load)
        if (load := slotload.from_rollups(rollups, totals=f.verdict.values)) is not None
        else None,
        network=bandwidth.relabel(f.network, red.node, red.text),
        redaction=note(red),
    )


def note(red: Redactor) -> str:
    """What a reader of a redacted report needs to know, in one paragraph."""
    stable = (
        "a random secret for this run only: tags differ between runs (give `--redact-key` or "
        f"`{ENV}` to compare reports)"
        if red.per_run
        else "the secret given: the same key has the same tag in every report made with it"
    )
    return (
        "Redacted (`--redact`): keys are shown as their pattern and a tag, `pattern#tag` (a key "
        "with no variable part as `{KEY}#tag`), client hosts as `host#tag`, nodes by ElastiCache "
        f"node id or shard and role; tags are keyed hashes with {stable}. The commands table "
        "(SQLite, Parquet) and sampled key sizes are not kept."
    )
