"""What `hotshard analyze` was given: capture folders and MONITOR logs, resolved to sources.

A capture folder gives one source per monitored node, labelled from its manifest (node, shard,
role, and for a replica its primary's address so replicated writes are told apart). A plain,
`.gz` or `.zst` log gives one source labelled with `--shard`/`--node` (or "unknown").
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from analyze.errors import BadInput
from analyze.findings import InputInfo
from capture import manifest as mf
from capture.errors import ManifestError

_MONITOR_LINE = re.compile(rb"^\+?(OK|\d+\.\d+ \[\d+ )")
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class SourceSpec:
    """Everything `analyze.parse.Source` needs, without importing the parser."""

    path: Path
    node: str = "unknown"
    shard: str = "unknown"
    role: str = "unknown"
    primary_addresses: tuple[str, ...] = ()


@dataclass
class Inputs:
    sources: list[SourceSpec] = field(default_factory=list)
    infos: list[InputInfo] = field(default_factory=list)
    manifests: list[mf.Manifest] = field(default_factory=list)
    key_sizes: list[mf.KeySize] = field(default_factory=list)
    commands_reply: list[Any] | None = None
    warnings: list[str] = field(default_factory=list)
    shards_known: list[str] = field(default_factory=list)
    nodes_known: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def server_version(self) -> str | None:
        for m in self.manifests:
            for n in m.nodes:
                if n.monitored and n.server_version:
                    return n.server_version
        return None

    @property
    def resp(self) -> int:
        return next((m.resp_protocol for m in self.manifests), 2)

    def capture_span(self) -> tuple[float | None, float | None]:
        """Start and end of the capture windows, from the manifests (None for plain logs)."""
        starts = [m.started_at for m in self.manifests if m.started_at is not None]
        ends = [m.ended_at for m in self.manifests if m.ended_at is not None]
        return (min(starts) if starts else None, max(ends) if ends else None)


def resolve(paths: list[str], shard: str | None = None, node: str | None = None) -> Inputs:
    """Turn CLI inputs into sources; a missing path or a file that is no MONITOR log is BadInput.

    `shard`/`node` label plain logs; either one value for all of them, or a comma-separated list
    with one value per plain log, in order.
    """
    if not paths:
        raise BadInput("no input: give a capture folder or a MONITOR log")
    out = Inputs()
    logs: list[Path] = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise BadInput(f"{text}: no such file or folder")
        if path.is_dir():
            if not mf.is_capture_folder(path):
                raise BadInput(
                    f"{text}: a folder without {mf.MANIFEST_NAME} — give a hotshard capture "
                    "folder, or the MONITOR log files themselves"
                )
            _add_capture(out, path)
        else:
            sniff(path)
            logs.append(path)
    shards = _labels(shard, len(logs), "shard")
    nodes = _labels(node, len(logs), "node")
    for path, s, n in zip(logs, shards, nodes, strict=True):
        out.sources.append(SourceSpec(path=path, node=n, shard=s))
        out.infos.append(InputInfo(name=path.name, kind="log"))
        if s != "unknown" and s not in out.shards_known:
            out.shards_known.append(s)
    if not out.sources:
        raise BadInput("no MONITOR data in the inputs: no node of the capture was monitored")
    return out


def _labels(value: str | None, n: int, what: str) -> list[str]:
    if value is None or str(value).strip() == "":
        return ["unknown"] * n
    items = [v.strip() for v in str(value).split(",")]
    if len(items) == 1:
        return items * n
    if len(items) != n:
        raise BadInput(
            f"--{what} has {len(items)} values for {n} log files: give one for all, or one per log"
        )
    return items


def _add_capture(out: Inputs, folder: Path) -> None:
    try:
        manifest = mf.read(folder)
    except ManifestError as exc:
        raise BadInput(str(exc)) from None
    out.manifests.append(manifest)
    primaries = {s.shard: s.primary for s in manifest.shards if s.primary}
    monitored = 0
    for node in manifest.nodes:
        if node.shard not in out.shards_known and node.monitored:
            out.shards_known.append(node.shard)
        if not node.monitored or not node.file:
            continue
        path = folder / node.file
        if not path.is_file():
            out.warnings.append(
                f"node {node.node} (shard {node.shard}): its file {node.file} is missing from "
                "the capture folder — left out"
            )
            continue
        monitored += 1
        primary = node.primary_node or primaries.get(node.shard)
        addresses = (primary,) if node.role == "replica" and primary else ()
        out.sources.append(
            SourceSpec(
                path=path,
                node=node.node,
                shard=node.shard,
                role=node.role,
                primary_addresses=addresses,
            )
        )
        out.nodes_known.append((node.node, node.shard, node.role))
        for gap in node.gaps:
            end = "the end" if gap.end is None else f"{gap.end - gap.start:.1f} s"
            out.warnings.append(
                f"node {node.node} (shard {node.shard}): not monitored for {end} from "
                f"{_iso(gap.start)} ({gap.reason})"
            )
        for err in node.errors:
            out.warnings.append(f"node {node.node} (shard {node.shard}): {err}")
        if node.stop_reason and node.stop_reason not in ("duration", "interrupted"):
            out.warnings.append(
                f"node {node.node} (shard {node.shard}): capture stopped early ({node.stop_reason})"
            )
    out.warnings.extend(manifest.warnings)
    if manifest.status not in ("complete", "running"):
        out.warnings.append(f"capture {folder.name} is {manifest.status}")
    out.infos.append(
        InputInfo(
            name=folder.name,
            kind="capture",
            cluster=manifest.cluster,
            status=manifest.status,
            started_at=manifest.started_at,
            ended_at=manifest.ended_at,
            nodes_monitored=monitored,
        )
    )
    out.key_sizes.extend(mf.read_key_sizes(folder, manifest))
    if out.commands_reply is None:
        out.commands_reply = mf.read_commands(folder, manifest)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sniff(path: Path) -> None:
    """Refuse a file that is not a MONITOR log (plain, gzip or zstd), looking at its first lines."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
            fh.seek(0)
            if magic == b"\x28\xb5\x2f\xfd":
                head = _read_some(zstandard.ZstdDecompressor().stream_reader(fh))
            elif magic[:2] == b"\x1f\x8b":
                head = _read_some(gzip.GzipFile(fileobj=fh))
            else:
                head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")[:50]]
    if not head.strip() or any(_MONITOR_LINE.match(ln) for ln in lines):
        return
    first = next((ln for ln in lines if ln.strip()), b"")[:60]
    raise BadInput(
        f"{path}: not a MONITOR log (it starts with {first.decode('utf-8', 'replace')!r}) — give "
        "a capture folder or a file written by `redis-cli monitor` (plain, .gz or .zst)"
    )


def _read_some(reader: Any) -> bytes:
    """Up to _SNIFF_BYTES of a decompressing reader; a truncated stream yields what it has."""
    chunks, size = [], 0
    try:
        while size < _SNIFF_BYTES:
            chunk = reader.read(_SNIFF_BYTES - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, EOFError, zstandard.ZstdError):
        pass
    return b"".join(chunks)


def parse_time(text: str | None, start: float | None, what: str) -> float | None:
    """`--since/--until`: epoch seconds, ISO-8601 (UTC unless it says otherwise), or `+SECONDS`
    after the capture start."""
    if text is None or str(text).strip() == "":
        return None
    value = str(text).strip()
    if value.startswith("+"):
        try:
            offset = float(value[1:])
        except ValueError:
            raise BadInput(f"--{what} {value!r}: +SECONDS takes a number, e.g. +30") from None
        if start is None:
            raise BadInput(f"--{what} {value!r}: the capture start is unknown (no data)")
        return start + offset
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"--{what} {value!r}: give epoch seconds, an ISO time (2025-10-17T13:05:00Z) or "
            "+SECONDS from the capture start"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
