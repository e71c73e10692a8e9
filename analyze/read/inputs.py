"""What `hotshard analyze` was given: capture folders and MONITOR logs, resolved to sources.

A capture folder gives one source per monitored node, labelled from its manifest (node, shard,
role, and for a replica its primary's address so replicated writes are told apart). A plain,
`.gz` or `.zst` log gives one source labelled with `--shard`/`--node` (or "unknown").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotshard.analyze import humanize
from hotshard.analyze.errors import BadInput
from hotshard.analyze.read import same_data
from hotshard.capture.errors import ManifestError
from hotshard.capture.format import lines as lines_
from hotshard.capture.format import manifest as mf
from hotshard.capture.format.counters import counters_reset
from hotshard.capture.format.escape import printable
from hotshard.capture.format.reader import MAX_LINE_BYTES, MonitorFile

_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Source:
    """One MONITOR log and what is known of the node it was captured on."""

    path: Path
    node: str = "unknown"  # "host:port"
    shard: str = "unknown"
    role: str = "unknown"  # primary | replica | unknown
    # "ip:port" client addresses whose lines are replicated writes (the replica's primary link).
    primary_addresses: tuple[str, ...] = ()
    max_line_bytes: int = MAX_LINE_BYTES  # longer lines are skipped with a note


@dataclass(frozen=True)
class InputInfo:
    """One input as given: a capture folder or a log file (name only: reports carry no paths)."""

    name: str
    kind: str  # "capture" | "log"
    cluster: str | None = None
    status: str | None = None  # capture status from the manifest
    started_at: float | None = None
    ended_at: float | None = None
    nodes_monitored: int = 0


@dataclass
class Inputs:
    sources: list[Source] = field(default_factory=list)
    infos: list[InputInfo] = field(default_factory=list)
    manifests: list[mf.Manifest] = field(default_factory=list)
    key_sizes: list[mf.KeySize] = field(default_factory=list)
    start_key_sizes: list[mf.KeySize] = field(default_factory=list)  # start of the window (v5)
    commands_reply: list[Any] | None = None
    warnings: list[str] = field(default_factory=list)
    shards_known: list[str] = field(default_factory=list)
    nodes_known: list[tuple[str, str, str]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # monitored nodes whose data is not here
    role_changes: list[str] = field(default_factory=list)  # shards of nodes whose role changed
    role_changed: list[RoleChange] = field(default_factory=list)  # those nodes' changes
    slot_moves: list[str] = field(default_factory=list)  # shards that lost or gained slots
    moved_slots: set[int] = field(default_factory=set)  # the slots they lost or gained

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

    @property
    def client_protocols(self) -> dict[str, dict[str, int]]:
        """node -> client address -> protocol, for connections CLIENT LIST showed on RESP3."""
        return {
            n.node: dict(n.client_protocols)
            for m in self.manifests
            for n in m.nodes
            if n.client_protocols
        }

    def capture_span(self) -> tuple[float | None, float | None]:
        """Start and end of the capture windows, from the manifests (None for plain logs)."""
        starts = [m.started_at for m in self.manifests if m.started_at is not None]
        ends = [m.ended_at for m in self.manifests if m.ended_at is not None]
        return (min(starts) if starts else None, max(ends) if ends else None)


def resolve(paths: list[str], shard: str | None = None, node: str | None = None) -> Inputs:
    """Turn CLI inputs into sources; a missing path or a file that is no MONITOR log is BadInput.

    `shard`/`node` label plain logs; either one value for all of them, or a comma-separated list
    with one value per plain log, in order. The same data given twice (the same path, a capture
    folder and one of its own files, a copy of a file) is refused: it would be counted twice.
    """
    if not paths:
        raise BadInput("no input: give a capture folder or a MONITOR log")
    out = Inputs()
    logs: list[Path] = []
    origins: list[str] = []  # per source, the input it came from (for duplicate messages)
    seen: dict[Path, str] = {}
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise BadInput(f"{text}: no such file or folder")
        real = path.resolve()
        if real in seen:
            raise BadInput(
                f"{text}: given twice (also as {seen[real]}) — give each input once, or it is "
                "counted twice"
            )
        seen[real] = text
        if path.is_dir():
            if not mf.is_capture_folder(path):
                raise BadInput(
                    f"{text}: a folder without {mf.MANIFEST_NAME} — give a hotshard capture "
                    "folder, or the MONITOR log files themselves"
                )
            before = len(out.sources)
            _add_capture(out, path)
            origins += [text] * (len(out.sources) - before)
        else:
            sniff(path)
            logs.append(path)
    shards = _labels(shard, len(logs), "shard")
    nodes = _labels(node, len(logs), "node")
    for path, s, n in zip(logs, shards, nodes, strict=True):
        if path.stat().st_size == 0:  # even `redis-cli monitor` writes its OK first
            out.absent.append(f"{path} is empty (0 bytes)")
            out.warnings.append(f"{out.absent[-1]}: no MONITOR data in it — left out")
            continue
        out.sources.append(Source(path=path, node=n, shard=s))
        out.infos.append(InputInfo(name=path.name, kind="log"))
        origins.append(str(path))
        if s != "unknown" and s not in out.shards_known:
            out.shards_known.append(s)
    if not out.sources:
        if out.absent:
            raise BadInput(
                f"no MONITOR data in the inputs: every file is missing or empty "
                f"({len(out.absent)}, e.g. {out.absent[0]})"
            )
        raise BadInput("no MONITOR data in the inputs: no node of the capture was monitored")
    same_data.refuse([s.path for s in out.sources], origins)
    return out


def _labels(value: str | None, n: int, what: str) -> list[str]:
    if value is None or str(value).strip() == "":
        return ["unknown"] * n
    items = [v.strip() for v in str(value).split(",")]
    for item in items:
        # A label goes into every table, heading and console line: it must be plain text.
        if printable(item) != item or not item:
            raise BadInput(
                f"--{what} '{printable(item)}': a label must be non-empty plain text (no control "
                "characters), e.g. 0001"
            )
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
    absent = 0
    with_data: set[str] = set()
    moves = slot_moves(manifest)
    if moves is not None:
        out.slot_moves += moves.shards
        out.moved_slots |= moves.slots
        out.warnings.append(moves.text)
    for node in manifest.nodes:
        if not node.monitored or not node.file:
            continue
        path = folder / node.file
        missing = _missing(node, path, manifest.status)
        if missing:
            absent += 1
            out.absent.append(f"node {node.node} (shard {node.shard}): {missing}")
            out.warnings.append(f"{out.absent[-1]} — left out")
            continue
        monitored += 1
        with_data.add(node.shard)
        primary = node.primary_node or primaries.get(node.shard)
        addresses = (primary,) if node.role == "replica" and primary else ()
        change = role_change(node)
        role = node.role
        if change is not None:
            role = f"{change.before}→{change.after}"  # never compared as one role or the other
            out.role_changes.append(node.shard)
            out.role_changed.append(change)
            out.warnings.append(change.text)
        out.sources.append(
            Source(
                path=path,
                node=node.node,
                shard=node.shard,
                role=role,
                primary_addresses=addresses,
            )
        )
        out.nodes_known.append((node.node, node.shard, role))
        for gap in node.gaps:
            end = "the end" if gap.end is None else f"{gap.end - gap.start:.1f} s"
            out.warnings.append(
                f"node {node.node} (shard {node.shard}): not monitored for {end} from "
                f"{humanize.timestamp(gap.start)} ({gap.reason})"
            )
        for err in node.errors:
            out.warnings.append(f"node {node.node} (shard {node.shard}): {err}")
        if node.stop_reason and node.stop_reason not in ("duration", "interrupted"):
            out.warnings.append(
                f"node {node.node} (shard {node.shard}): capture stopped early ({node.stop_reason})"
            )
        reset = counters_reset(node.info_before, node.info_after)
        if reset:
            out.warnings.append(
                f"node {node.node} (shard {node.shard}): {reset} — its INFO counters started "
                "again from zero, so its measured bytes out are unknown"
            )
    # A shard is compared with the others only when some of its data is here: one whose every
    # file is missing would count as an idle shard and inflate the skew.
    for node in manifest.nodes:
        if node.monitored and node.shard in with_data and node.shard not in out.shards_known:
            out.shards_known.append(node.shard)
    for shard in sorted({n.shard for n in manifest.nodes if n.monitored} - with_data):
        out.warnings.append(
            f"shard {shard}: no data from any of its monitored nodes — left out of the shard "
            "comparison (the verdict and skew use the other shards only)"
        )
    out.warnings.extend(manifest.warnings)
    if manifest.status == "running":
        out.warnings.append(
            f"capture {folder.name} did not finish: its manifest still says running (the capture "
            "was killed, or is still going) — its end, final INFO counters and key sizes may be "
            "missing; the figures cover only what was written to disk"
        )
    elif manifest.status != "complete":
        out.warnings.append(f"capture {folder.name} is {manifest.status}")
    status = manifest.status
    if status == "running":
        status = "running (unfinished)"
    if absent:
        status += f", data missing for {absent} node{'s' if absent > 1 else ''}"
    out.infos.append(
        InputInfo(
            name=folder.name,
            kind="capture",
            cluster=manifest.cluster,
            status=status,
            started_at=manifest.started_at,
            ended_at=manifest.ended_at,
            nodes_monitored=monitored,
        )
    )
    out.key_sizes.extend(mf.read_key_sizes(folder, manifest))
    out.start_key_sizes.extend(mf.read_key_sizes(folder, manifest, start=True))
    if out.commands_reply is None:
        out.commands_reply = mf.read_commands(folder, manifest)


_INFO_ROLES = {"master": "primary", "slave": "replica"}


@dataclass(frozen=True)
class RoleChange:
    before: str
    after: str
    text: str  # for Health and the verdict
    node: str = ""
    # The last reading in the old role and the first in the new (None: not known)
    last_before: float | None = None
    first_after: float | None = None


def role_change(node: mf.NodeCapture) -> RoleChange | None:
    """A node whose role changed during the window (a failover, REPLICAOF NO ONE): the roles the
    capture read (discovery, the INFO before, each poll's, the INFO after) in time order, and
    the first change, between the two readings that show it."""
    readings: list[tuple[float | None, str]] = [(None, node.role)]
    if node.info_before is not None:
        role = _INFO_ROLES.get(str(node.info_before.sections.get("replication", {}).get("role")))
        if role:
            readings.append((node.info_before.at, role))
    readings += [(p.at, p.role) for p in node.polls if p.role]
    if node.info_after is not None:
        role = _INFO_ROLES.get(str(node.info_after.sections.get("replication", {}).get("role")))
        if role:
            readings.append((node.info_after.at, role))
    for (t0, r0), (t1, r1) in itertools.pairwise(readings):
        if r0 != r1 and r0 in _INFO_ROLES.values() and r1 in _INFO_ROLES.values():
            since = (
                f"between {humanize.timestamp(t0)} and {humanize.timestamp(t1)}"
                if t0 and t1
                else f"by {humanize.timestamp(t1 or 0)}"
            )
            promoted = r1 == "primary"
            text = (
                f"node {node.node} (shard {node.shard}): its role changed from {r0} to {r1} "
                f"{since} — a {'failover' if promoted else 'demotion'} during the window; its "
                f"commands before and after are not those of one {r0}, so it is shown as "
                f"{r0}→{r1} and not compared with the shard's other "
                f"{'replicas' if r0 == 'replica' else 'primaries'} as if nothing happened "
                "(the role is read by the capture's polls: MONITOR shows no MOVED, ASK or "
                "READONLY reply, so the stream itself does not tell)"
            )
            return RoleChange(r0, r1, text, node.node, t0, t1)
    return None


@dataclass(frozen=True)
class SlotMoves:
    shards: list[str]  # the shards that lost or gained slots, sorted
    text: str  # for Health
    slots: frozenset[int] = frozenset()  # the slots whose owner changed


def slot_moves(manifest: mf.Manifest) -> SlotMoves | None:
    """Slots whose owner at the end of the window (`slots_after`, re-read by the capture) is
    not their owner at its start (`shards`): a reshard during the window. None when nothing
    moved or the end was not re-read (format < 6)."""
    if not manifest.slots_after:
        return None
    shard_of = {n.node: n.shard for n in manifest.nodes}
    start = {}
    for s in manifest.shards:
        for lo, hi in s.slots:
            start.update(dict.fromkeys(range(lo, hi + 1), s.shard))
    end = {}
    for primary, ranges in manifest.slots_after.items():
        owner = shard_of.get(primary, primary)  # a node the start topology did not know
        for lo, hi in ranges:
            end.update(dict.fromkeys(range(lo, hi + 1), owner))
    moved: dict[tuple[str, str], list[int]] = {}
    for slot in sorted(start.keys() | end.keys()):
        a, b = start.get(slot, "none"), end.get(slot, "none")
        if a != b:
            moved.setdefault((a, b), []).append(slot)
    if not moved:
        return None
    parts = [
        f"{slot_text(slots)} from shard {a} to {'shard ' + b if b in shard_of.values() else b}"
        for (a, b), slots in sorted(moved.items())
    ]
    shards = sorted({x for pair in moved for x in pair if x in shard_of.values()})
    text = (
        "slots changed owner during the window (ownership read before and re-read after "
        "it: MONITOR shows no MOVED or ASK reply): "
        + "; ".join(parts)
        + " — per-shard numbers for those slots are mixed: each command counts for the shard "
        "whose node served it, while slot ranges and the slot plan use the ownership at the "
        f"start; shard{'s' if len(shards) > 1 else ''} {', '.join(shards)} changed"
    )
    return SlotMoves(shards, text, frozenset(s for slots in moved.values() for s in slots))


def slot_text(slots: list[int]) -> str:
    """`slots 5-9, 12 (6 slots)`: consecutive runs."""
    runs: list[list[int]] = []
    for slot in slots:
        if runs and slot == runs[-1][1] + 1:
            runs[-1][1] = slot
        else:
            runs.append([slot, slot])
    shown = ", ".join(f"{lo}-{hi}" if hi > lo else str(lo) for lo, hi in runs[:5])
    more = f", … ({len(runs) - 5} more ranges)" if len(runs) > 5 else ""
    n = len(slots)
    return f"slot{'s' if n > 1 else ''} {shown}{more} ({n} slot{'s' if n > 1 else ''})"


def _missing(node: mf.NodeCapture, path: Path, status: str) -> str | None:
    """Why a monitored node's data is absent from the folder, or None when it is there."""
    if not path.is_file():
        return f"its file {node.file} is missing from the capture folder"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"its file {node.file} cannot be read ({exc.strerror or exc})"
    # An uncompressed file of a node that saw no line is legitimately empty; a compressed one
    # always holds at least a frame header once the capture flushed anything.
    idle = node.compression in (None, "none") and node.lines == 0 and status != "running"
    if size == 0 and not idle:
        return (
            f"its file {node.file} is empty (0 bytes: the capture stopped before its first "
            "flush, e.g. killed in its first seconds)"
        )
    return None


def sniff(path: Path) -> None:
    """Refuse a file that is not a MONITOR log (plain, gzip or zstd), looking at its first lines."""
    try:
        head = MonitorFile(path).head(_SNIFF_BYTES)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")[:50]]
    if not head.strip() or any(ln in (b"OK", b"+OK") or lines_.split(ln) for ln in lines):
        return
    first = next((ln for ln in lines if ln.strip()), b"")[:60]
    raise BadInput(
        f"{path}: not a MONITOR log (it starts with {first.decode('utf-8', 'replace')!r}) — give "
        "a capture folder or a file written by `redis-cli monitor` (plain, .gz or .zst)"
    )
