"""Key-size sampling after the MONITOR window: what the reply model needs, never a whole value.

Runs on the bastion (no polars). For every monitored node it reads back the capture it just wrote
with a light line parser, ranks keys by a rough traffic estimate, and for the keys that matter
(the top keys, plus a few of every rough pattern) asks the *same node* for TYPE, OBJECT ENCODING,
cardinality, MEMORY USAGE, PTTL and the average sizes of a random sample of elements:

    string  STRLEN only (a value is never read)
    hash    HLEN, HRANDFIELD k n WITHVALUES
    set     SCARD, SRANDMEMBER k n
    zset    ZCARD, ZRANDMEMBER k n WITHSCORES, and both ends: ZRANGE k 0 e-1 / -e -1 WITHSCORES
    list    LLEN, LRANGE of a head, a middle and a tail slice
    stream  XLEN, XRANGE k - + COUNT c and XREVRANGE k + - COUNT c (whole-entry reply sizes)

Scores are kept as the server printed them (Redis < 7.2 prints 17 significant digits), because
the reply model needs the bytes on the wire, not the number. Commands are pipelined on one
dedicated RESP2 connection and rate-limited; a failure is recorded in `KeySize.error` of the keys
it touched and never aborts the capture.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from hotshard.capture.format import lines, reads, resp
from hotshard.capture.format.commands import commands
from hotshard.capture.format.lines import escape_bytes, key_text
from hotshard.capture.format.manifest import (
    KeySize,
    Manifest,
    NodeCapture,
    read_commands,
)
from hotshard.capture.format.reader import MonitorFile

# Weight of one command in the rough ranking: a full read of a collection dwarfs anything else.
FULL_READ_WEIGHT = 10.0
READ_WEIGHT = 1.0

# Commands with no key, or whose keys we do not want to size (admin, scripting, pub/sub).
KEYLESS = frozenset(
    [
        "ping",
        "echo",
        "select",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
        "info",
        "scan",
        "auth",
        "hello",
        "client",
        "config",
        "command",
        "time",
        "dbsize",
        "flushdb",
        "flushall",
        "publish",
        "spublish",
        "subscribe",
        "ssubscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
        "sunsubscribe",
        "readonly",
        "readwrite",
        "cluster",
        "script",
        "function",
        "wait",
        "waitaof",
        "keys",
        "randomkey",
        "swapdb",
        "object",
        "memory",
        "debug",
        "slowlog",
        "latency",
        "monitor",
        "replconf",
        "psync",
        "sync",
        "save",
        "bgsave",
        "bgrewriteaof",
        "lastsave",
        "shutdown",
        "role",
        "lolwut",
        "module",
        "acl",
        "failover",
        "reset",
        "quit",
        "asking",
        "pubsub",
        "xinfo",
        "xgroup",
    ]
)
EVAL_LIKE = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8,}(?![0-9A-Za-z])")
_DIGITS = re.compile(r"\d+")


# -- reading the capture back ---------------------------------------------------------------
def iter_lines(path: Path, max_lines: int | None = None, every: int = 1) -> Iterator[bytes]:
    """Lines of a MONITOR file (every `every`-th one, at most `max_lines`); a file still being
    written, or cut, gives its whole lines."""
    taken = 0
    for i, line in enumerate(MonitorFile(path).lines()):
        if i % every:
            continue
        yield line
        taken += 1
        if max_lines is not None and taken >= max_lines:
            return


def key_positions(commands_reply: list[Any] | None) -> dict[str, int]:
    """First-key position (1 = first argument) per lower-case command, from a `COMMAND` reply.

    0 means "no key at a fixed position" (keyless, or movable keys handled by name).
    """
    return {c.name: c.first_key for c in commands(commands_reply) if c.first_key is not None}


@dataclass
class LineInfo:
    command: str
    key: bytes | None
    full_read: bool
    others: tuple[bytes, ...] = ()  # MGET's keys after the first: each is its own reply element


def parse_line(line: bytes, positions: dict[str, int]) -> LineInfo | None:
    """Command, first key and "is it a full read" of one MONITOR line; None for lines to skip."""
    parsed = lines.split(line)
    if parsed is None:
        return None  # +OK or garbage
    # A redis.call inside a script counts: the script's reply is sized from what it read
    # (analyze/estimate/scripts.py).
    command = parsed.args[0].decode("latin-1").lower()
    rest = parsed.args[1:]
    pos = positions.get(command)
    if command in EVAL_LIKE:
        try:
            pos = 3 if int(rest[1]) > 0 else 0
        except (IndexError, ValueError):
            pos = 0
    elif command in ("xread", "xreadgroup"):
        upper = [a.upper() for a in rest]
        pos = upper.index(b"STREAMS") + 2 if b"STREAMS" in upper else 0
    elif pos is None:
        pos = 0 if command in KEYLESS else 1
    if pos <= 0 or pos > len(rest):
        return None
    key = lines.unescape_bytes(rest[pos - 1].decode("latin-1"))
    others = (
        tuple(lines.unescape_bytes(a.decode("latin-1")) for a in rest[1:])
        if command == "mget"
        else ()
    )
    return LineInfo(command, key, _is_full_read(command, rest), others)


def _is_full_read(command: str, rest: list[bytes]) -> bool:
    """A whole value or a whole collection (capture/format/reads.py); `rest`: key and after."""
    if command in reads.WHOLE_VALUES:
        return True
    args = [a.decode("latin-1") for a in rest[1:]] if command in reads.CANDIDATES else []
    return reads.whole_collection(command, args)


def rough_pattern(key: bytes) -> str:
    """Key with UUIDs, long hex and digit runs masked: enough to pick keys of every shape."""
    text = key.decode("utf-8", "backslashreplace")
    text = _UUID.sub("{UUID}", text)
    text = _HEX.sub(lambda m: "{HEX}" if any(c.isdigit() for c in m.group()) else m.group(), text)
    return _DIGITS.sub("{N}", text)


def rank_keys(
    path: Path, positions: dict[str, int], *, max_lines: int = 500_000, total_lines: int = 0
) -> Counter[bytes]:
    """Rough traffic score per key from (a uniform subsample of) one node's capture file."""
    every = max(1, math.ceil(total_lines / max_lines)) if total_lines else 1
    scores: Counter[bytes] = Counter()  # counts are weights (floats)
    for line in iter_lines(path, max_lines=max_lines, every=every):
        info = parse_line(line, positions)
        if info is not None and info.key is not None:
            scores[info.key] += FULL_READ_WEIGHT if info.full_read else READ_WEIGHT  # type: ignore[assignment]
            for other in info.others:
                scores[other] += READ_WEIGHT  # type: ignore[assignment]
    return scores


def choose_keys(
    scores: Counter[bytes], *, top: int = 500, per_pattern: int = 50, max_keys: int = 20_000
) -> list[bytes]:
    """The `top` keys by score plus the best `per_pattern` of every rough pattern, best first."""
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen: dict[bytes, float] = {k: s for k, s in ranked[:top]}
    per: Counter[str] = Counter()
    for key, score in ranked:
        pattern = rough_pattern(key)
        if per[pattern] < per_pattern:
            per[pattern] += 1
            chosen.setdefault(key, score)
    return [k for k, _ in sorted(chosen.items(), key=lambda kv: (-kv[1], kv[0]))][:max_keys]


# -- talking to the node ----------------------------------------------------------------------
class _RateLimiter:
    def __init__(self, rate: float) -> None:
        self.rate = max(rate, 1.0)
        self.start = time.monotonic()
        self.sent = 0

    def take(self, n: int) -> None:
        """Block until `n` more commands fit under the rate since the limiter started."""
        due = self.start + self.sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.sent += n


# Replies that are RESP simple strings (`+string\r\n`), not bulk strings.
_SIMPLE = frozenset({"TYPE", "READONLY"})


def wire_size(command: str, reply: Any) -> int:
    """RESP2 bytes of one sampling reply (errors by their text: `-CODE message\r\n`)."""
    if command in _SIMPLE and isinstance(reply, bytes):
        return resp.simple(len(reply))
    return resp.reply(reply)


class Pipe:
    """Raw pipelining on one dedicated connection: replies unparsed (bytes), errors as values.

    `reply_bytes` counts what the node sent on it (capture/window_sample.py adds it to the node's
    overhead when the sample ran inside the window)."""

    def __init__(self, client: redis.Redis, rate: float, readonly: bool) -> None:
        self.pool = client.connection_pool
        self.conn = self.pool.get_connection()
        self.reply_bytes = 0
        self.limiter = _RateLimiter(rate)
        self.chunk = max(1, min(200, int(rate / 10)))
        # Score strings must be the RESP2 bulk strings the server prints, not parsed doubles.
        if str(getattr(self.conn, "protocol", 2)) == "3":
            self.run([("HELLO", "2")])
        if readonly:
            reply = self.run([("READONLY",)])[0]
            if isinstance(reply, Exception) and "cluster support disabled" not in str(reply):
                raise reply

    def restart_rate(self) -> None:
        """Count the rate from now (a connection opened long before it is used)."""
        self.limiter = _RateLimiter(self.limiter.rate)

    def run(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        out: list[Any] = []
        for i in range(0, len(commands), self.chunk):
            part = commands[i : i + self.chunk]
            self.limiter.take(len(part))
            self.conn.send_packed_command(self.conn.pack_commands(part))
            for cmd in part:
                try:
                    out.append(self.conn.read_response(disable_decoding=True))
                except redis.ResponseError as exc:
                    out.append(_named(exc))
                self.reply_bytes += wire_size(str(cmd[0]).upper(), out[-1])
        return out

    def close(self) -> None:
        # HELLO/READONLY changed this connection's state: never hand it back as it is.
        self.conn.disconnect()
        self.pool.release(self.conn)


def _named(exc: redis.ResponseError) -> redis.ResponseError:
    """redis-py strips the code of some errors (`MOVED 12 host:port` -> `12 host:port`): put it back."""
    code = {"MovedError": "MOVED", "AskError": "ASK", "TryAgainError": "TRYAGAIN"}.get(
        type(exc).__name__
    )
    return redis.ResponseError(f"{code} {exc}") if code else exc


@dataclass
class _Plan:
    size: KeySize
    raw: bytes
    errors: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return None if value is None or isinstance(value, Exception) else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _entry_bytes(entry: Any) -> int:
    """RESP2 bytes of one stream entry as XRANGE sends it: `*2 id *2n field value ...`."""
    entry_id, fields = entry[0], entry[1] or []
    return resp.array_header(2) + resp.bulk(len(entry_id)) + resp.reply(list(fields))


def measure_keys(
    client: redis.Redis,
    node: str,
    keys: Sequence[bytes],
    *,
    sample: int = 1000,
    edge: int = 100,
    rate: float = 500.0,
    readonly: bool = False,
    sample_budget: int = 1 << 20,
    batch: int = 50,
    progress: Callable[[str], None] | None = None,
    pipe: Pipe | None = None,
    stop: Callable[[], bool] | None = None,
    light: bool = False,
) -> list[KeySize]:
    """Measure `keys` on one node (the `client` must reach exactly that node).

    Never reads a whole value: strings get STRLEN only, collections a random sample of at most
    `sample` elements (fewer when MEMORY USAGE says the elements are big: about `sample_budget`
    bytes per key), plus `edge` elements at each end of sorted sets and lists.
    `readonly`: send READONLY first (a replica in cluster mode). `pipe`: an open connection
    to use (and close) instead of a new one. `stop`: asked between batches; when it says so,
    the keys left get an error instead of sizes. `light`: what a reply's size needs and no more
    (the in-window sampler's CPU budget): TYPE, PTTL and the cardinality, OBJECT ENCODING and
    MEMORY USAGE for collections only (3 commands for a string, 2 for a missing key; not 5 and 4).
    """
    plans = [_Plan(KeySize(node=node, key=key_text(k)[0]), k) for k in keys]
    for p in plans:
        if key_text(p.raw)[1]:
            p.size.key_b64 = base64.b64encode(p.raw).decode()
    if not plans:
        return []
    own = pipe is None
    try:
        pipe = pipe or Pipe(client, rate, readonly)
    except (redis.RedisError, OSError) as exc:
        for p in plans:
            p.size.error = f"connect: {exc}"
        return [p.size for p in plans]
    last = 0.0
    try:
        for start in range(0, len(plans), batch):
            part = plans[start : start + batch]
            if stop is not None and stop():
                for p in plans[start:]:
                    p.errors.append("not measured: the capture was stopped")
                break
            try:
                _measure_batch(
                    pipe, part, sample=sample, edge=edge, budget=sample_budget, light=light
                )
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                for p in plans[start:]:
                    p.errors.append(f"connection: {exc}")
                break
            if progress and (time.monotonic() - last > 1 or start + batch >= len(plans)):
                last = time.monotonic()
                progress(f"sizes {node}: {min(start + batch, len(plans))}/{len(plans)} keys")
    finally:
        if own:
            pipe.close()
    for p in plans:
        if p.errors:
            p.size.error = "; ".join(p.errors)
    return [p.size for p in plans]


def _measure_batch(
    pipe: Pipe, plans: list[_Plan], *, sample: int, edge: int, budget: int, light: bool = False
) -> None:
    # Round 1: what each key is.
    first: tuple[str, ...] = ("TYPE", "PTTL") if light else ("TYPE", "ENCODING", "MEMORY", "PTTL")
    cmds: list[tuple[Any, ...]] = []
    for p in plans:
        cmds += [_probe(name, p.raw) for name in first]
    replies = pipe.run(cmds)
    width = len(first)
    for i, p in enumerate(plans):
        got = dict(zip(first, replies[width * i : width * i + width], strict=True))
        typ, ttl = got["TYPE"], got["PTTL"]
        s = p.size
        if isinstance(typ, Exception):
            p.errors.append(f"TYPE: {typ}")
            continue
        s.type = _text(typ)
        pttl = _int(ttl)
        s.ttl_ms = pttl if pttl is not None and pttl >= 0 else None
        if s.type == "none":
            s.cardinality = 0
        if not light:
            _object_facts(p, got["ENCODING"], got["MEMORY"])
        if isinstance(ttl, Exception):
            p.errors.append(f"PTTL: {ttl}")
    # Round 2: cardinality (light: with the facts the element sample of a collection needs).
    card_cmd = {
        "string": "STRLEN",
        "hash": "HLEN",
        "list": "LLEN",
        "set": "SCARD",
        "zset": "ZCARD",
        "stream": "XLEN",
    }
    todo = [(p, card_cmd[p.size.type]) for p in plans if p.size.type in card_cmd]
    facts = [p for p, _ in todo if light and p.size.type != "string"]
    cmds = [(c, p.raw) for p, c in todo]
    for p in facts:
        cmds += [_probe("ENCODING", p.raw), _probe("MEMORY", p.raw)]
    # TIME after the cardinalities, in the same round trip: a write before it may be in them.
    *replies, now = pipe.run([*cmds, ("TIME",)])
    for (p, card), reply in zip(todo, replies, strict=False):
        if isinstance(reply, Exception):
            p.errors.append(f"{card}: {reply}")
        else:
            p.size.cardinality = int(reply)
    rest = replies[len(todo) :]
    for i, p in enumerate(facts):
        _object_facts(p, rest[2 * i], rest[2 * i + 1])
    measured = _server_time(now)
    for p in plans:
        p.size.sampled_at = measured
    # Round 3: element samples.
    cmds, owners = [], []
    for p in plans:
        for cmd in _sample_commands(p.size, p.raw, sample=sample, edge=edge, budget=budget):
            cmds.append(cmd)
            owners.append(p)
    replies = pipe.run(cmds)
    by_plan: dict[int, list[tuple[tuple[Any, ...], Any]]] = {}
    for cmd, owner, reply in zip(cmds, owners, replies, strict=True):
        by_plan.setdefault(id(owner), []).append((cmd, reply))
    for p in plans:
        for cmd, reply in by_plan.get(id(p), []):
            if isinstance(reply, Exception):
                p.errors.append(f"{cmd[0]}: {reply}")
        ok = [(c, r) for c, r in by_plan.get(id(p), []) if not isinstance(r, Exception)]
        _summarize(p.size, ok, edge)


def _probe(name: str, raw: bytes) -> tuple[Any, ...]:
    return {"ENCODING": ("OBJECT", "ENCODING", raw), "MEMORY": ("MEMORY", "USAGE", raw)}.get(
        name, (name, raw)
    )


def _object_facts(p: _Plan, enc: Any, mem: Any) -> None:
    p.size.encoding = _text(enc)
    p.size.memory_usage = _int(mem)
    if isinstance(mem, Exception):
        p.errors.append(f"MEMORY USAGE: {mem}")


def _server_time(reply: Any) -> float:
    """The node's clock (a `TIME` reply), the one its MONITOR lines are stamped with; ours if
    refused."""
    try:
        return int(reply[0]) + int(reply[1]) / 1e6
    except (TypeError, ValueError, IndexError):
        return time.time()


def _sample_count(size: KeySize, sample: int, budget: int) -> int:
    card = size.cardinality or 0
    n = min(sample, card)
    if size.memory_usage and card:
        per_element = max(1.0, size.memory_usage / card)
        n = min(n, max(1, int(budget / per_element)))
    return n


def _sample_commands(
    size: KeySize, raw: bytes, *, sample: int, edge: int, budget: int
) -> list[tuple[Any, ...]]:
    card = size.cardinality or 0
    if not card or size.type in (None, "string", "none"):
        return []
    n = _sample_count(size, sample, budget)
    e = min(edge, n)
    if size.type == "hash":
        return [("HRANDFIELD", raw, n, "WITHVALUES")]
    if size.type == "set":
        return [("SRANDMEMBER", raw, n)]
    if size.type == "zset":
        cmds: list[tuple[Any, ...]] = [("ZRANDMEMBER", raw, n, "WITHSCORES")]
        if card > e:  # both ends: top-N reads are not average-sized
            cmds += [("ZRANGE", raw, 0, e - 1, "WITHSCORES"), ("ZRANGE", raw, -e, -1, "WITHSCORES")]
        return cmds
    if size.type == "list":
        if card <= n:
            return [("LRANGE", raw, 0, card - 1)]
        third = max(1, n // 3)
        mid = card // 2 - third // 2
        return [
            ("LRANGE", raw, 0, e - 1),
            ("LRANGE", raw, mid, mid + third - 1),
            ("LRANGE", raw, -e, -1),
        ]
    if size.type == "stream":
        c = max(1, min(10, n))
        return [("XRANGE", raw, "-", "+", "COUNT", c), ("XREVRANGE", raw, "+", "-", "COUNT", c)]
    return []


def _pairs(flat: list[bytes]) -> list[tuple[bytes, bytes]]:
    return list(zip(flat[0::2], flat[1::2], strict=False))


# A small hash's field names are kept (HGET of a field it lacks is a null reply), within bounds:
# the key sizes file holds up to 20,000 keys per node.
FIELDS_MAX = 128
FIELD_BYTES_MAX = 4096


def _all_fields(pairs: list[tuple[bytes, bytes]], cardinality: int | None) -> dict[str, int] | None:
    """Field (as MONITOR quotes it) -> value length, when the sample saw every field of a
    small hash; None otherwise."""
    if not pairs or len(pairs) != cardinality or len(pairs) > FIELDS_MAX:
        return None
    if sum(len(f) for f, _ in pairs) > FIELD_BYTES_MAX:
        return None
    return {escape_bytes(f): len(v) for f, v in sorted(pairs)}


def _summarize(size: KeySize, results: list[tuple[tuple[Any, ...], Any]], edge: int) -> None:
    """Fold the sample replies into the KeySize averages."""
    members: list[bytes] = []
    scores: list[bytes] = []
    if size.type == "hash":
        for _, reply in results:
            pairs = _pairs(reply or [])
            size.sample_n += len(pairs)
            fields = [len(f) for f, _ in pairs]
            values = [len(v) for _, v in pairs]
            size.avg_field_len = _mean(fields)
            size.avg_value_len = _mean(values)
            size.avg_field_bulk = _mean([resp.bulk(n) for n in fields])
            size.avg_value_bulk = _mean([resp.bulk(n) for n in values])
            size.fields = _all_fields(pairs, size.cardinality)
        return
    if size.type == "set":
        for _, reply in results:
            members = list(reply or [])
    elif size.type == "zset":
        for cmd, reply in results:
            pairs = _pairs(reply or [])
            if cmd[0] == "ZRANDMEMBER":
                members, scores = [m for m, _ in pairs], [s for _, s in pairs]
            else:
                at_head = cmd[2] == 0
                m_bulk = _mean([resp.bulk(len(m)) for m, _ in pairs])
                s_bulk = _mean([resp.bulk(len(s)) for _, s in pairs])
                size.edge_n = len(pairs)
                if at_head:
                    size.head_member_bulk, size.head_score_bulk = m_bulk, s_bulk
                else:
                    size.tail_member_bulk, size.tail_score_bulk = m_bulk, s_bulk
    elif size.type == "list":
        head: list[bytes] = []
        tail: list[bytes] = []
        for cmd, reply in results:
            items = list(reply or [])
            members += items
            if len(results) > 1 and cmd[2] == 0:
                head = items
            elif len(results) > 1 and cmd[2] != 0 and cmd[3] == -1:
                tail = items
        if len(results) == 1 and len(members) > edge:  # the whole (small) list was read
            head, tail = members[:edge], members[-edge:]
        if head and tail:
            size.edge_n = len(head)
            size.head_member_bulk = _mean([resp.bulk(len(m)) for m in head])
            size.tail_member_bulk = _mean([resp.bulk(len(m)) for m in tail])
    elif size.type == "stream":
        entries = [e for _, reply in results for e in (reply or [])]
        size.sample_n = len(entries)
        size.avg_entry_bytes = _mean([float(_entry_bytes(e)) for e in entries])
        return
    if members:
        size.sample_n = len(members)
        size.avg_member_len = _mean([len(m) for m in members])
        size.avg_member_bulk = _mean([resp.bulk(len(m)) for m in members])
    if scores:
        size.avg_score_len = _mean([len(s) for s in scores])
        size.avg_score_bulk = _mean([resp.bulk(len(s)) for s in scores])


# -- the capture-side entry point ---------------------------------------------------------------
def monitored_file(folder: Path, node: NodeCapture) -> Path | None:
    if not node.monitored or not node.file:
        return None
    path = Path(folder) / node.file
    return path if path.exists() else None


def sample_sizes(
    folder: Path,
    manifest: Manifest,
    connect: Callable[[NodeCapture], redis.Redis],
    *,
    top: int = 500,
    per_pattern: int = 50,
    sample: int = 1000,
    rate: float = 500.0,
    progress: Callable[[str], None] | None = None,
    max_lines: int = 500_000,
    max_keys: int = 20_000,
    parallel: int = 4,
) -> list[KeySize]:
    """Sample the sizes of the keys that mattered on every monitored node of a capture.

    Keys come from each node's own capture file (a uniform subsample of at most `max_lines`
    lines), ranked by count x (10 for a full read, 1 otherwise): the `top` keys plus up to
    `per_pattern` of every rough pattern. Sizes are taken on that node through `connect(node)`,
    READONLY first on cluster replicas; `rate` bounds commands/s per node, and up to `parallel`
    nodes are sized at once. Never raises for a node or key: failures land in `KeySize.error`.
    """
    positions = key_positions(read_commands(folder, manifest))
    nodes = [n for n in manifest.nodes if monitored_file(Path(folder), n) is not None]

    def one(node: NodeCapture) -> list[KeySize]:
        path = monitored_file(Path(folder), node)
        assert path is not None
        if progress:
            progress(f"sizes {node.node}: ranking keys from {path.name}")
        scores = rank_keys(path, positions, max_lines=max_lines, total_lines=node.lines)
        keys = choose_keys(scores, top=top, per_pattern=per_pattern, max_keys=max_keys)
        if not keys:
            return []
        try:
            client = connect(node)
        except Exception as exc:  # any failure to reach a node is that node's keys' error
            return [
                KeySize(node=node.node, key=key_text(k)[0], error=f"connect: {exc}") for k in keys
            ]
        readonly = manifest.cluster_mode and node.role == "replica"
        return measure_keys(
            client, node.node, keys, sample=sample, rate=rate, readonly=readonly, progress=progress
        )

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(nodes) or 1))) as pool:
        results = list(pool.map(one, nodes))
    return [size for sizes in results for size in sizes]
