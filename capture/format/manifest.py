"""The capture folder format: the one contract between `capture/` and `analyze/`.

A capture folder holds:

    manifest.json                       this module's `Manifest`, as JSON
    <shard>-<role>-<host>_<port>.monitor.zst   raw MONITOR bytes of one node (or .gz)
    commands.json                       the `COMMAND` reply of the server (key specs), optional
    key_sizes.jsonl                     one `KeySize` per line, optional (sampled after the window)
    key_sizes_start.jsonl               the same, sampled shortly after the window opened (v5)

A monitor file holds the MONITOR lines exactly as the server sent them, RESP simple strings
(`+1697549123.123456 [0 10.0.0.1:53422] "GET" "k"\r\n`), from the first line after MONITOR's
`+OK` to the last before the closing `+RESET`; a sequence of complete zstd frames (gzip members),
each ending at a line boundary, so a killed capture stays readable up to its last flush.

Rules for evolving it: add fields with defaults and bump `FORMAT_VERSION`; `Manifest.from_dict`
must keep reading every older version (tests keep one old manifest per version). Never store a
secret here: options are copied through `redact_options`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotshard.capture import __version__
from hotshard.capture.errors import ManifestError
from hotshard.capture.format.escape import printable

# Version history (Manifest.from_dict reads them all; tests/data/capture-v1 is a v1 folder):
#   1  first release
#   2  nodes[].health; key_sizes.jsonl gains *_bulk averages and zset/list head/tail samples
#   3  nodes[].server_name (redis | valkey) and nodes[].slot_stats (Valkey CLUSTER SLOT-STATS)
#   4  nodes[].polls (INFO stats counters through the window) and nodes[].poll_client
#      and nodes[].own_calls, nodes[].reply_sizes, nodes[].pubsub (what MONITOR does not show:
#      capture/costs.py, analyze/measure/unshown.py)
#   5  key_sizes_start.jsonl (capture/window_sample.py), nodes[].sampler_client, and
#      key sizes gain sampled_at
#   6  nodes[].client_protocols, client_list_lines, client_list_clients, commandlog
#   7  slots_after: each primary's slots re-read after the window (a reshard or failover during
#      it), beside the start topology in shards[]/nodes[]
FORMAT_VERSION = 7
MANIFEST_NAME = "manifest.json"
COMMANDS_NAME = "commands.json"
KEY_SIZES_NAME = "key_sizes.jsonl"
START_SIZES_NAME = "key_sizes_start.jsonl"
MONITOR_SUFFIXES = (".monitor.zst", ".monitor.gz", ".monitor")

# Option names whose values must never be written anywhere.
SECRET_OPTIONS = frozenset({"password", "password_file", "auth", "secret", "token"})


@dataclass
class Gap:
    """A period during which a node was not monitored (drop, reconnect)."""

    start: float
    end: float | None
    reason: str


@dataclass
class InfoSnapshot:
    """`INFO` of one node at one moment, parsed into sections of key -> value.

    `reply_bytes` is the exact size of the INFO reply on the wire (RESP bulk string), needed to
    reconcile `total_net_output_bytes` deltas to the byte.
    """

    at: float
    sections: dict[str, dict[str, Any]]
    reply_bytes: int = 0


@dataclass
class InfoPoll:
    """The byte counters of one `INFO stats` poll during the window (capture/poll.py).

    `monitor_bytes` and `overhead_bytes` are what `bytes_received` and `overhead_bytes_out` of
    the node were when the poll was sent: the capture's own traffic so far, so that the
    difference of two polls is the application's bytes out in between (analyze/findings/timeline.py).
    `total_net_repl_output_bytes` is None on servers without it (Redis 6.2).
    """

    at: float
    total_net_output_bytes: int
    total_net_repl_output_bytes: int | None
    total_commands_processed: int
    monitor_bytes: int = 0
    overhead_bytes: int = 0
    role: str | None = None  # primary | replica, on servers that say it in the same INFO (>= 7)
    connected_clients: int | None = None  # INFO clients (Redis >= 7, Valkey; format >= 6)


@dataclass
class SlotStats:
    """`CLUSTER SLOT-STATS` of one node (Valkey >= 8.0) read before and after the window.

    `status`: ok | disabled (`cluster-slot-stats-enabled no`: key counts only, not kept) |
    unsupported | denied | error, with `note` saying why. `delta` holds, for every slot of the
    node whose counters moved, `cpu-usec`, `network-bytes-in` and `network-bytes-out` after minus
    before; on a primary, bytes out include the replication stream sent to each replica.
    """

    status: str
    note: str | None = None
    before_at: float | None = None
    after_at: float | None = None
    delta: dict[str, dict[str, int]] = field(default_factory=dict)  # slot (as text) -> counters


@dataclass
class NodeCapture:
    """One node of the cluster, monitored or not."""

    node: str  # "host:port" as the tool reached it
    host: str
    port: int
    role: str  # "primary" | "replica"
    shard: str  # shard id as the user knows it, e.g. "0001"
    slots: list[tuple[int, int]] = field(default_factory=list)
    cluster_node_id: str | None = None  # engine's 40-hex node id
    aws_node_id: str | None = None  # e.g. "mycluster-0001-002"
    primary_node: str | None = None  # for replicas: "host:port" of their primary
    server_version: str | None = None  # Valkey's own version, not its redis_version
    server_name: str | None = None  # redis | valkey
    health: str | None = None  # as the engine reported it: online | failed | loading | ...
    monitored: bool = False
    file: str | None = None  # relative to the capture folder
    compression: str | None = None  # "zstd" | "gzip" | None
    started_at: float | None = None
    ended_at: float | None = None
    # duration | interrupted | max_bytes | output_buffer (cut by the watchdog) | error |
    # disk_full | disk_error (the capture folder's disk) | watchdog_lost (ended unguarded)
    stop_reason: str | None = None
    bytes_received: int = 0  # raw MONITOR bytes read from the socket (incl. the leading +OK)
    bytes_written: int = 0  # compressed bytes on disk
    lines: int = 0  # MONITOR lines received (newline count)
    max_omem: int = 0  # highest output-buffer (CLIENT LIST omem) seen for the monitor connection
    # Bytes this tool itself made the node send between the two INFO snapshots, other than the
    # MONITOR stream (the "before" INFO reply, CLIENT LIST polls, commandstats reads...).
    overhead_bytes_out: int = 0
    errors: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    info_before: InfoSnapshot | None = None
    info_after: InfoSnapshot | None = None
    slot_stats: SlotStats | None = None  # None: not a Valkey >= 8.0 node (never asked)
    polls: list[InfoPoll] = field(default_factory=list)  # INFO stats during the window
    poll_client: str | None = None  # "ip:port" of the polling connection, as the server sees it
    # What MONITOR does not show (capture/costs.py). `own_calls`: commands this tool ran on the
    # node between the INFO snapshots, by commandstats name (None: not recorded, format < 4);
    # `reply_sizes`: exact reply bytes measured once (`client|list`, `info`, `cluster|slots`...);
    # `pubsub`: subscribers per channel after the window (`channels`, `shard_channels`, `patterns`).
    own_calls: dict[str, int] | None = None
    reply_sizes: dict[str, int] = field(default_factory=dict)
    pubsub: dict[str, Any] | None = None
    # "ip:port" of the start-of-window sampler's connection (capture/window_sample.py): MONITOR
    # shows its TYPE/STRLEN/... lines, which the analyzer leaves out like the polls.
    sampler_client: str | None = None
    # "ip:port" -> protocol of the connections `CLIENT LIST` showed speaking other than RESP2
    # (`resp=3`, Redis >= 7 and Valkey), read once inside the window (capture/costs.py).
    client_protocols: dict[str, int] = field(default_factory=dict)
    # That same CLIENT LIST: its lines, and those of ordinary clients (not replicas nor the
    # primary's link), so its size follows the connected clients the polls count.
    client_list_lines: int | None = None
    client_list_clients: int | None = None
    # Valkey >= 8.1 `COMMANDLOG large-reply` around the window (capture/commandlog.py): status,
    # threshold, start_id, len_before/len_after, entries [{id, time, bytes, args, client}], lost.
    commandlog: dict[str, Any] | None = None


@dataclass
class ShardInfo:
    shard: str
    slots: list[tuple[int, int]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # "host:port"
    primary: str | None = None


@dataclass
class KeySize:
    """What sampling learned about one key on one node; sizes are bytes, averages over a sample."""

    node: str
    key: str  # text form (`hotshard.capture.format.lines.key_text`)
    key_b64: str | None = None  # exact bytes when the key is not valid UTF-8
    type: str | None = None  # string | hash | list | set | zset | stream | none
    encoding: str | None = None
    cardinality: int | None = None  # STRLEN / HLEN / LLEN / SCARD / ZCARD / XLEN
    memory_usage: int | None = None
    ttl_ms: int | None = None
    sample_n: int = 0
    avg_member_len: float | None = None  # zset/set members, list items
    avg_field_len: float | None = None  # hash fields
    avg_value_len: float | None = None  # hash values, stream entry size
    avg_score_len: float | None = None  # zset scores as the server prints them
    error: str | None = None
    # RESP2 bytes of one element as a bulk string (`$L\r\n...\r\n`), averaged over the sample:
    # exact where lengths straddle a power of ten, unlike `L + digits(avg L) + 5`.
    avg_member_bulk: float | None = None
    avg_field_bulk: float | None = None
    avg_value_bulk: float | None = None
    avg_score_bulk: float | None = None
    avg_entry_bytes: float | None = None  # streams: RESP2 bytes of one XRANGE entry
    # Both ends of a zset/list (ZRANGE 0 e-1 / -e -1, ascending): top-N reads are not
    # average-sized. `edge_n` elements were read at each end.
    edge_n: int = 0
    head_member_bulk: float | None = None
    head_score_bulk: float | None = None
    tail_member_bulk: float | None = None
    tail_score_bulk: float | None = None
    # When the key was measured (the node's TIME, after its cardinality reply); None before v5.
    sampled_at: float | None = None
    # A hash whose sample saw every field (HRANDFIELD of its whole HLEN): each field as MONITOR
    # quotes it (`escape_bytes`, how HGET's argument reaches the analysis) -> its value's length,
    # sorted. User data like the key name: it goes where key names go. None: not all were seen.
    fields: dict[str, int] | None = None


@dataclass
class Manifest:
    format_version: int = FORMAT_VERSION
    tool_version: str = __version__
    cluster: str | None = None
    cluster_mode: bool = True
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    duration_requested: float | None = None
    status: str = "running"  # running | complete | partial | interrupted | failed
    options: dict[str, Any] = field(default_factory=dict)
    shards: list[ShardInfo] = field(default_factory=list)
    nodes: list[NodeCapture] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. reads landing on unmonitored nodes
    commands_file: str | None = None
    key_sizes_file: str | None = None
    key_sizes_start_file: str | None = None  # the start-of-window sample (v5), when taken
    resp_protocol: int = 2  # what the application clients speak, when known
    # Slot ownership re-read after the window: primary "host:port" -> slot ranges (v6). None:
    # not re-read (older format, standalone, or no node answered).
    slots_after: dict[str, list[tuple[int, int]]] | None = None

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["options"] = redact_options(self.options)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise ManifestError(f"manifest has no valid format_version ({version!r})")
        if version > FORMAT_VERSION:
            raise ManifestError(
                f"manifest format {version} is newer than this hotshard understands "
                f"({FORMAT_VERSION}) — upgrade hotshard"
            )
        data = _upgrade(dict(data))
        nodes = [_node_from_dict(n) for n in data.pop("nodes", [])]
        shards = [
            ShardInfo(
                shard=str(s["shard"]),
                slots=[tuple(r) for r in s.get("slots", [])],
                nodes=list(s.get("nodes", [])),
                primary=s.get("primary"),
            )
            for s in data.pop("shards", [])
        ]
        after = data.pop("slots_after", None)
        if after is not None:
            after = {str(k): [tuple(r) for r in v] for k, v in after.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            nodes=nodes,
            shards=shards,
            slots_after=after,
            **{k: v for k, v in data.items() if k in known},
        )

    def node(self, name: str) -> NodeCapture | None:
        return next((n for n in self.nodes if n.node == name), None)


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 had no node health; unknown is what the analyzer assumes anyway.
    for node in data.get("nodes", []):
        node.setdefault("health", None)
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    # v2 did not tell Valkey from Redis, nor read slot stats: unknown and absent.
    for node in data.get("nodes", []):
        node.setdefault("server_name", None)
        node.setdefault("slot_stats", None)
    return data


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    # v3 did not poll INFO during the window (the analyzer estimates the series alone) nor
    # record the tool's own calls, reply sizes or subscribers (unknown).
    for node in data.get("nodes", []):
        node.setdefault("polls", [])
        node.setdefault("poll_client", None)
        node.setdefault("own_calls", None)
        node.setdefault("reply_sizes", {})
        node.setdefault("pubsub", None)
    return data


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    # v4 sampled key sizes once, after the window: no start sample, no sampler connection.
    data.setdefault("key_sizes_start_file", None)
    for node in data.get("nodes", []):
        node.setdefault("sampler_client", None)
    return data


def _v5_to_v6(data: dict[str, Any]) -> dict[str, Any]:
    # v5 did not record each client's protocol: the analyzer uses `resp_protocol` and HELLOs.
    for node in data.get("nodes", []):
        node.setdefault("client_protocols", {})
        node.setdefault("client_list_lines", None)
        node.setdefault("client_list_clients", None)
        node.setdefault("commandlog", None)
    return data


def _v6_to_v7(data: dict[str, Any]) -> dict[str, Any]:
    # v6 read slot ownership once, before the window: the end is unknown.
    data.setdefault("slots_after", None)
    return data


_UPGRADES = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6, 6: _v6_to_v7}


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older manifest dict up to FORMAT_VERSION, one version step at a time."""
    version = data["format_version"]
    while version < FORMAT_VERSION:
        data = _UPGRADES[version](data)
        version += 1
    data["format_version"] = version
    return data


def _snapshot(data: dict[str, Any] | None) -> InfoSnapshot | None:
    if not data:
        return None
    return InfoSnapshot(
        at=data["at"], sections=data.get("sections", {}), reply_bytes=data.get("reply_bytes", 0)
    )


def _node_from_dict(data: dict[str, Any]) -> NodeCapture:
    data = dict(data)
    data["slots"] = [tuple(r) for r in data.get("slots", [])]
    data["gaps"] = [Gap(**g) for g in data.get("gaps", [])]
    data["info_before"] = _snapshot(data.get("info_before"))
    data["info_after"] = _snapshot(data.get("info_after"))
    data["slot_stats"] = SlotStats(**data["slot_stats"]) if data.get("slot_stats") else None
    polls = {f.name for f in dataclasses.fields(InfoPoll)}
    data["polls"] = [
        InfoPoll(**{k: v for k, v in p.items() if k in polls}) for p in data.get("polls", [])
    ]
    data["shard"] = str(data["shard"])
    known = {f.name for f in dataclasses.fields(NodeCapture)}
    return NodeCapture(**{k: v for k, v in data.items() if k in known})


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options safe to write down: secrets dropped, only whether one was given is kept."""
    out: dict[str, Any] = {}
    for name, value in sorted(options.items()):
        if name.lower() in SECRET_OPTIONS:
            out[name] = "(given)" if value else None
        else:
            out[name] = value
    return out


# -- files -------------------------------------------------------------------------------
def write(folder: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Atomically (re)write the manifest: a crash mid-write never leaves a broken file."""
    folder = Path(folder)
    target = folder / MANIFEST_NAME
    data = _fields(manifest)
    data["options"] = redact_options(manifest.options)
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read(folder: str | os.PathLike[str]) -> Manifest:
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(
            f"{folder}: no {MANIFEST_NAME} — is this a hotshard capture folder?"
        ) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: not a manifest (a JSON {type(data).__name__})")
    for name in ("nodes", "shards"):  # the lists `from_dict` walks
        items = data.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            shown = printable(repr(items))[:60]
            raise ManifestError(
                f"{path}: malformed manifest: {name} is {shown}, not a list of objects"
            )
    try:
        manifest = Manifest.from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ManifestError(f"{path}: malformed manifest ({printable(str(exc))})") from None
    problem = _misfit(manifest, "")
    started, ended = manifest.started_at, manifest.ended_at
    if problem is None and started is not None and ended is not None and ended < started:
        problem = "ended_at is before started_at"
    if problem:
        raise ManifestError(f"{path}: malformed manifest: {problem}")
    _files_inside(Path(folder), manifest, path)
    return _printable(manifest)


# -- a manifest from elsewhere --------------------------------------------------------------
# A capture folder may come from someone else: its manifest is checked field by field against
# the types declared here, every file it names must lie inside the folder (symlinks resolved),
# and its text is made inert (control characters escaped) before anything prints it.
def _misfit(obj: Any, where: str) -> str | None:
    """The first field of dataclass `obj` whose value is not of its declared type, described."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{where}{f.name}"
        if not _fits(value, hints[f.name]):
            shown = printable(repr(value))
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            return f"{name} is {shown}, not {_type_name(hints[f.name])}"
        nested = value if isinstance(value, list) else [value]
        for i, item in enumerate(nested):
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                label = f"{name}[{i}]." if isinstance(value, list) else f"{name}."
                if problem := _misfit(item, label):
                    return problem
    return None


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(
            _fits(v, a) for v, a in zip(value, args, strict=True)
        )
    if origin is dict:
        return isinstance(value, dict) and all(_fits(v, args[1]) for v in value.values())
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("hotshard.capture.format.manifest.", "")


def _files_inside(folder: Path, manifest: Manifest, path: Path) -> None:
    """Refuse a manifest naming a file outside its folder, or one file for two nodes."""
    root = folder.resolve()
    named = [(f"nodes[{i}].file", n.file) for i, n in enumerate(manifest.nodes) if n.file]
    named += [
        (name, getattr(manifest, name))
        for name in ("commands_file", "key_sizes_file", "key_sizes_start_file")
        if getattr(manifest, name)
    ]
    seen: dict[Path, str] = {}
    for field_name, name in named:
        real = (folder / name).resolve()
        if root not in real.parents:
            raise ManifestError(
                f"{path}: {field_name} names {printable(name)!r}, outside the capture folder — "
                "a capture's files are inside its folder; this folder is refused"
            )
        if real in seen:
            raise ManifestError(
                f"{path}: {field_name} and {seen[real]} name the same file "
                f"{printable(name)!r} — it would be counted twice; this folder is refused"
            )
        seen[real] = field_name


def _printable(obj: Any) -> Any:
    """`obj` with every string in it escaped (`printable`): the manifest's text reaches the
    terminal and the report, where an ESC or a newline would act."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, list):
        return [_printable(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_printable(v) for v in obj)
    if isinstance(obj, dict):
        return {_printable(k): _printable(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name not in ("file", "sections"):  # a file name is checked, INFO is numbers
                setattr(obj, f.name, _printable(getattr(obj, f.name)))
    return obj


def read_key_sizes(
    folder: str | os.PathLike[str], manifest: Manifest, *, start: bool = False
) -> list[KeySize]:
    """The after-window key sizes (or, `start`, the start-of-window ones); [] when absent."""
    name = manifest.key_sizes_start_file if start else manifest.key_sizes_file
    if not name:
        return []
    path = Path(folder) / name
    if not path.exists():
        return []
    known = {f.name for f in dataclasses.fields(KeySize)}
    out = []
    with path.open() as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(KeySize(**{k: v for k, v in row.items() if k in known}))
    return out


def read_commands(folder: str | os.PathLike[str], manifest: Manifest) -> list[Any] | None:
    """The raw `COMMAND` reply saved at capture time (JSON-ified), or None."""
    if not manifest.commands_file:
        return None
    path = Path(folder) / manifest.commands_file
    return json.loads(path.read_text()) if path.exists() else None


def is_capture_folder(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST_NAME).is_file()


def monitor_file_name(shard: str, role: str, host: str, port: int, compression: str) -> str:
    ext = {"zstd": ".monitor.zst", "gzip": ".monitor.gz"}.get(compression, ".monitor")
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return f"{shard}-{role}-{safe_host}_{port}{ext}"


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields, one level deep: `json.dumps(default=_json_default)` converts the
    nested ones as it meets them. The same JSON as `dataclasses.asdict`, without its deep copy
    (a 16-node manifest with INFO and polls: 60 ms a write; 16k key sizes: 1 s)."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _fields(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "backslashreplace")
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def jsonable(obj: Any) -> Any:
    """A RESP2 reply (nested lists, bytes, ints) as plain JSON values; bytes become UTF-8 text."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "backslashreplace")
    if isinstance(obj, list | tuple):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in obj.items()}
    return obj


def write_commands(folder: str | os.PathLike[str], manifest: Manifest, reply: Any) -> None:
    """Save the raw `COMMAND` reply (RESP2, unparsed by redis-py) and point the manifest at it."""
    path = Path(folder) / COMMANDS_NAME
    path.write_text(json.dumps(jsonable(reply), separators=(",", ":")) + "\n")
    os.chmod(path, 0o600)
    manifest.commands_file = COMMANDS_NAME


def write_key_sizes(
    folder: str | os.PathLike[str], manifest: Manifest, sizes: list[KeySize], *, start: bool = False
) -> None:
    """Write `key_sizes.jsonl` (`start`: `key_sizes_start.jsonl`; sorted, so the file is
    deterministic) and point the manifest at it."""
    path = Path(folder) / (START_SIZES_NAME if start else KEY_SIZES_NAME)
    rows = sorted((_fields(s) for s in sizes), key=lambda r: (r["node"], r["key"]))
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, default=_json_default) + "\n")
    os.chmod(path, 0o600)
    if start:
        manifest.key_sizes_start_file = START_SIZES_NAME
    else:
        manifest.key_sizes_file = KEY_SIZES_NAME
