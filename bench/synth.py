"""Synthetic capture folders for the benchmarks: 3 shards, zstd, a realistic MONITOR mix.

Generated with polars string expressions, a million lines per chunk (no Python per line), and
cached under bench/data/. What a capture of `hotshard capture` holds: per node a `.monitor.zst`
of raw RESP simple strings (`+1697549123.123456 [0 10.0.1.7:53422] "GET" "user:42"\\r\\n`) and a
manifest. The mix, per shard replica:

- GET/SET/HGET/HGETALL/INCR/EXPIRE on user, session, counter and cart keys of the shard's own
  slots (keys are routed by CRC16 like a real cluster);
- MGET and DEL with several keys, MULTI/SET/INCR/EXEC blocks, EVALSHA followed by its
  `[0 lua]` sub-commands, replicated writes from the primary's address and its PINGs;
- keys and values with escapes (`\\"`, `\\\\`, `\\xc3\\xa9`, `\\n`, spaces);
- a hot sorted set: `ZREVRANGE large_sortedset:app:2025-10-17 0 -1` on the shard owning its
  slot, while other dates are read as top-100 pages elsewhere.

`python -m bench.synth --lines N [--mix highcard] [--out DIR]` writes one capture folder and
prints its path.
"""

from __future__ import annotations

import time
from pathlib import Path

import fire
import polars as pl
import zstandard

from hotshard.analyze.keys.slots import hash_slot
from hotshard.capture.format import manifest as mf

DATA = Path(__file__).parent / "data"
SHARDS = [("0001", (0, 5460)), ("0002", (5461, 10922)), ("0003", (10923, 16383))]
T0 = 1_760_700_000.0  # 2025-10-17
RATE = 20_000.0  # lines per second per node
CHUNK = 1_000_000
HOT_KEY = "large_sortedset:app:2025-10-17"


def slot(key: str) -> int:
    return hash_slot(key.encode())


def shard_of(key: str) -> str:
    s = slot(key)
    return next(name for name, (lo, hi) in SHARDS if lo <= s <= hi)


def _pools() -> dict[str, dict[str, list[str]]]:
    """Per shard, per family, the keys that live there (like a real cluster's routing)."""
    families = {
        "user": [f"user:{i}:profile" for i in range(30_000)],
        "session": [
            f"session:{i:08x}-7c1e-4b2a-9d3f-{i * 7919 % 10**12:012d}" for i in range(20_000)
        ],
        "counter": [f"counter:page:{i}" for i in range(3_000)],
        "cart": [f"cart:{i}" for i in range(10_000)],
        "zset": [f"large_sortedset:app:2025-10-{d:02d}" for d in range(1, 31)],
        # escapes as MONITOR prints them: quote, backslash, UTF-8 bytes, newline, space
        "odd": [
            f"odd:{i}:{s}"
            for i in range(300)
            for s in ('q\\"uote', "back\\\\slash", "caf\\xc3\\xa9", "line\\nbreak", "sp ace")
        ],
    }
    pools: dict[str, dict[str, list[str]]] = {name: {} for name, _ in SHARDS}
    for family, keys in families.items():
        for key in keys:
            pools[shard_of(key.replace("\\", ""))].setdefault(family, []).append(key)
    for name in pools:
        pools[name]["zset"] = [k for k in pools[name].get("zset", []) if k != HOT_KEY]
    return pools


def _pick(pool: list[str], h: pl.Expr) -> pl.Expr:
    """A key of `pool` chosen by the hash `h` (deterministic, skewed towards the first keys)."""
    series = pl.Series(pool, dtype=pl.String)
    # Square the uniform draw: a few keys are much hotter than the rest, like real traffic.
    n = len(pool)
    idx = ((h % 1_000_003).cast(pl.Float64) / 1_000_003).pow(2) * n
    return pl.lit(series).get(idx.cast(pl.Int64).clip(0, n - 1))


def _q(*parts: pl.Expr | str) -> pl.Expr:
    """MONITOR arguments: each quoted, separated by spaces."""
    out: list[pl.Expr] = []
    for i, p in enumerate(parts):
        out += [pl.lit(' "' if i else '"'), p if isinstance(p, pl.Expr) else pl.lit(p), pl.lit('"')]
    return pl.concat_str(out)


def _unique(prefix: str, h: pl.Expr, hexed: bool = False) -> pl.Expr:
    """A key no other event uses: `prefix` + a random id (decimal) or hash (hex)."""
    text = h.cast(pl.String)
    return pl.lit(prefix) + (text.str.encode("hex") if hexed else text)


def _chunk(
    shard: str, pools: dict[str, list[str]], start: int, n: int, hot: bool, mix: str = "repeat"
) -> pl.Series:
    """`n` events of one node (an event is 1-4 lines) as RESP simple-string text. `mix`:
    "repeat" draws every key from fixed pools; "highcard" makes most reads and every session
    write hit a key no other event uses (random ids and hashes), like cache and session traffic."""
    i = pl.int_range(start, start + n, dtype=pl.Int64)
    h = i.hash(seed=int(shard))
    h2 = i.hash(seed=int(shard) + 100)
    ts = pl.lit(T0) + i.cast(pl.Float64) / RATE
    ts_text = pl.format("{}", (ts * 1_000_000).cast(pl.Int64))
    ts_text = pl.concat_str(ts_text.str.head(-6), pl.lit("."), ts_text.str.tail(6))
    client = pl.concat_str(
        pl.lit("10.0."),
        (h2 % 4 + 1).cast(pl.String),
        pl.lit("."),
        (h2 % 200 + 1).cast(pl.String),
        pl.lit(":"),
        ((h2 // 800) % 16 + 40_000).cast(pl.String),  # a pool of 16 connections per client
    )
    primary = f"10.0.0.{10 + int(shard)}:6379"
    # Every piece once, as a column: the when/then chain below only picks among them.
    parts = pl.select(kind=h % 1000, h2=h2, ts_text=ts_text, client=client).with_columns(
        head=pl.concat_str(pl.lit("+"), "ts_text", pl.lit(" [0 "), "client", pl.lit("] ")),
        lua_head=pl.concat_str(pl.lit("+"), "ts_text", pl.lit(" [0 lua] ")),
        repl_head=pl.concat_str(pl.lit("+"), "ts_text", pl.lit(f" [0 {primary}] ")),
        user=_pick(pools["user"], pl.col("h2"))
        if mix == "repeat"
        else pl.when(pl.col("h2") % 100 < 85)
        .then(_unique(f"obj:{shard}:", pl.col("h2")))
        .otherwise(_pick(pools["user"], pl.col("h2"))),
        user2=_pick(pools["user"], pl.col("h2") // 7),
        user3=_pick(pools["user"], pl.col("h2") // 13),
        session=_pick(pools["session"], pl.col("h2"))
        if mix == "repeat"
        else _unique("session:", pl.col("h2") // 3, hexed=True),
        counter=_pick(pools["counter"], pl.col("h2")),
        cart=_pick(pools["cart"], pl.col("h2")),
        zset=_pick(pools["zset"] or [HOT_KEY], pl.col("h2")),
        odd=_pick(pools["odd"], pl.col("h2")),
        value=pl.concat_str(
            pl.lit('{\\"id\\":'),
            (pl.col("h2") % 100_000).cast(pl.String),
            pl.lit(',\\"name\\":\\"caf\\xc3\\xa9 ol\\xc3\\xa9\\"}'),
        ),
    )
    kind, head, lua_head, repl_head = (pl.col(c) for c in ("kind", "head", "lua_head", "repl_head"))
    user, user2, user3, session = (pl.col(c) for c in ("user", "user2", "user3", "session"))
    counter, cart, zset, odd, value = (
        pl.col(c) for c in ("counter", "cart", "zset", "odd", "value")
    )
    nl = pl.lit("\r\n")

    def line(cmd: pl.Expr, header: pl.Expr = head) -> pl.Expr:
        return pl.concat_str(header, cmd)

    events = (
        pl.when(kind < 330)
        .then(line(_q("GET", user)))
        .when(kind < 420)
        .then(line(_q("SET", session, value, "EX", "3600")))
        .when(kind < 500)
        .then(line(_q("HGET", cart, "items")))
        .when(kind < 540)
        .then(line(_q("HGETALL", cart)))
        .when(kind < 600)
        .then(line(_q("INCR", counter)))
        .when(kind < 630)
        .then(line(_q("EXPIRE", session, "1800")))
        .when(kind < 680)
        .then(line(_q("MGET", user, user2, user3)))
        .when(kind < 700)
        .then(line(_q("DEL", session, user2)))
        .when(kind < 720)
        .then(
            pl.concat_str(
                line(_q("MULTI")),
                nl,
                line(_q("SET", counter, "1")),
                nl,
                line(_q("INCR", counter)),
                nl,
                line(_q("EXEC")),
            )
        )
        .when(kind < 745)
        .then(
            pl.concat_str(
                line(_q("EVALSHA", "a42059b356c875f0717db19a51f6aaca9ae659ea", "1", cart, "5")),
                nl,
                line(_q("get", cart), lua_head),
                nl,
                line(_q("expire", cart, "5"), lua_head),
            )
        )
        .when(kind < 760)
        .then(line(_q("GET", odd)))
        .when(kind < 775)
        .then(line(_q("SET", odd, 'v\\\\al\\"ue with spaces')))
        .when(kind < 820)
        .then(line(_q("ZREVRANGE", zset, "0", "99", "WITHSCORES")))
        .when(kind < 830)
        .then(
            line(_q("ZREVRANGE", HOT_KEY, "0", "-1"))
            if hot
            else line(_q("ZSCORE", zset, "member:17"))
        )
        .when(kind < 860)
        .then(line(_q("ZSCORE", zset, "member:17")))
        .when(kind < 990)
        .then(line(_q("SET", user, value, "PXAT", "1760703600000"), repl_head))
        .otherwise(line(_q("PING"), repl_head))
    )
    return parts.select(events.alias("line")).to_series()


def _key_sizes(pools: dict[str, dict[str, list[str]]], hot_shard: str) -> list[mf.KeySize]:
    """What key-size sampling would have found: the hot zset is 100,000 members."""
    sizes = []
    for index, (shard, _) in enumerate(SHARDS, 1):
        node = f"10.0.0.{index}:6379"
        pool = pools[shard]
        for key in pool.get("zset", []) + ([HOT_KEY] if shard == hot_shard else []):
            card = 100_000 if key == HOT_KEY else 5_000
            sizes.append(
                mf.KeySize(
                    node=node,
                    key=key,
                    type="zset",
                    encoding="skiplist",
                    cardinality=card,
                    sample_n=1000,
                    avg_member_len=28.0,
                    avg_score_len=17.0,
                )
            )
        for key in pool.get("user", []):
            sizes.append(mf.KeySize(node=node, key=key, type="string", cardinality=60, sample_n=1))
        for key in pool.get("cart", []):
            sizes.append(
                mf.KeySize(
                    node=node,
                    key=key,
                    type="hash",
                    encoding="listpack",
                    cardinality=12,
                    sample_n=12,
                    avg_field_len=8.0,
                    avg_value_len=40.0,
                )
            )
    return sizes


MIXES = ("repeat", "highcard")


def generate(lines: int, out: Path | None = None, quiet: bool = False, mix: str = "repeat") -> Path:
    """A capture folder with about `lines` MONITOR lines over 3 shards (cached by size and mix)."""
    if mix not in MIXES:
        raise ValueError(f"mix is one of {MIXES}, not {mix!r}")
    folder = out or DATA / (f"capture-{lines}" if mix == "repeat" else f"capture-{mix}-{lines}")
    if mf.is_capture_folder(folder):
        return folder
    t = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    pools = _pools()
    hot_shard = shard_of(HOT_KEY)
    per_node = lines // len(SHARDS)
    events_per_node = int(per_node / 1.11)  # MULTI and EVALSHA events hold several lines
    nodes, shards = [], []
    for index, (shard, slots) in enumerate(SHARDS, 1):
        host, primary = f"10.0.0.{index}", f"10.0.0.{10 + index}:6379"
        name = mf.monitor_file_name(shard, "replica", host, 6379, "zstd")
        written = counted = 0
        cctx = zstandard.ZstdCompressor(level=1, threads=2)
        with (folder / name).open("wb") as raw, cctx.stream_writer(raw) as zf:
            zf.write(b"+OK\r\n")
            for start in range(0, events_per_node, CHUNK):
                n = min(CHUNK, events_per_node - start)
                text = _chunk(shard, pools[shard], start, n, shard == hot_shard, mix)
                text = text.str.join("\r\n")
                data = text.item().encode() + b"\r\n"
                zf.write(data)
                written += len(data)
                counted += data.count(b"\n")
        end = T0 + events_per_node / RATE
        nodes.append(
            mf.NodeCapture(
                node=f"{host}:6379",
                host=host,
                port=6379,
                role="replica",
                shard=shard,
                slots=[slots],
                primary_node=primary,
                server_version="7.0.15",
                monitored=True,
                file=name,
                compression="zstd",
                started_at=T0,
                ended_at=end,
                stop_reason="duration",
                bytes_received=written + 5,
                lines=counted + 1,
            )
        )
        nodes.append(
            mf.NodeCapture(
                node=primary,
                host=primary.split(":")[0],
                port=6379,
                role="primary",
                shard=shard,
                slots=[slots],
                server_version="7.0.15",
            )
        )
        shards.append(
            mf.ShardInfo(
                shard=shard, slots=[slots], nodes=[primary, f"{host}:6379"], primary=primary
            )
        )
    m = mf.Manifest(
        cluster="bench",
        created_at=T0,
        started_at=T0,
        ended_at=T0 + events_per_node / RATE,
        status="complete",
        shards=shards,
        nodes=nodes,
    )
    mf.write_key_sizes(folder, m, _key_sizes(pools, hot_shard))
    mf.write(folder, m)
    if not quiet:
        total = sum(n.lines for n in nodes)
        print(f"synth: {total:,} lines in {folder} ({time.perf_counter() - t:.1f} s)")
    return folder


def main(lines: int = 1_000_000, out: str | None = None, mix: str = "repeat") -> None:
    """Write one synthetic capture folder and print its path.

    Args:
      lines: about how many MONITOR lines, over 3 shards.
      out: the folder (default: bench/data/capture-[MIX-]LINES, reused when it exists).
      mix: "repeat" (keys from fixed pools) or "highcard" (most keys never repeat).
    """
    print(generate(int(lines), Path(out) if out else None, mix=str(mix)))


if __name__ == "__main__":
    fire.Fire(main)
