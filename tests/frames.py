"""Build the analyzer's tables from literals or real files, through the product's own code.

`commands([...])` takes one dict per row with only the columns a test cares about; the others get
plausible defaults (a GET from an ip client on shard 0001), and the result has exactly the columns
and types of the wide view (`hotshard.analyze.store.dataset.WIDE_COLUMNS`). `tables(df)` splits such a frame into
the narrow rows, keys, signatures and sources the stages after parsing take; `parse_log` runs a
real file through `hotshard.analyze.rows.make`; `write_outputs` writes an analysis folder and its SQLite file
with the real writers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.keys import find, keyspecs
from hotshard.analyze.keys.slots import hash_slot
from hotshard.analyze.read import parse, scanner
from hotshard.analyze.rows import make
from hotshard.analyze.store import dataset

slot_of = hash_slot  # checked against CLUSTER KEYSLOT in test_slots.py

# The types of the wide view's columns (`hotshard.analyze.store.dataset.wide`).
WIDE: dict[str, pl.DataType] = {
    **schema.COMMANDS,
    "role": pl.String(),
    "client_ip": pl.String(),
    "client_kind": pl.String(),
    **{c: schema.KEYS[c] for c in ("key_binary", "key_bytes", "slot", "key_pattern")},
    **{c: schema.SIGNATURES[c] for c in ("signature", "arg_shape")},
}
assert tuple(WIDE) == dataset.WIDE_COLUMNS


def row(**values: Any) -> dict[str, Any]:
    """One row with defaults filled in; `key` is a shortcut for key_name/key_bytes/slot.
    `keys` (every key) is null as for single-key commands; ids are given by `tables`."""
    key = values.pop("key", "k")
    command = values.get("command", "get")
    shape = values.get("arg_shape", "")
    pattern = values.get("key_pattern", key)
    key_bytes = None if key is None else key.encode()
    client = values.get("client", "10.0.1.1:5000")
    out: dict[str, Any] = {
        "ts": 1_700_000_000.0,
        "node": "10.0.0.1:6379",
        "shard": "0001",
        "role": "replica",
        "source": "0001-replica-10.0.0.1_6379.monitor.zst",
        "db": 0,
        "client": client,
        "client_ip": client.rsplit(":", 1)[0] if ":" in client else None,
        "client_kind": "ip",
        "origin": schema.ORIGIN_CLIENT,
        "command": command,
        "arg_count": 1,
        "request_bytes": 30,
        "keys": None,
        "key_count": 0 if key is None else 1,
        "key_name": key,
        "key_binary": None if key is None else False,
        "key_bytes": key_bytes,
        "arg_shape": shape,
        "slot": None if key_bytes is None else slot_of(key_bytes),
        "key_pattern": pattern,
        "signature": f"{command.upper()} | {pattern or ''} | {shape}",
        "reply_bytes": None,
        "reply_confidence": "unknown",
        "key_id": None,
        "signature_id": None,
    }
    out.update(values)
    return out


def commands(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with the exact wide columns and types (`WIDE`) from `row(...)` dicts."""
    filled = [r if set(r) >= set(WIDE) else row(**r) for r in rows]
    return pl.DataFrame(filled, schema=WIDE, orient="row")


def tables(df: pl.DataFrame) -> dataset.Tables:
    """The narrow tables of a wide frame (`commands`): `key_id` numbers the distinct key names
    in sorted order, `signature_id` the distinct signatures; ids already set are replaced.
    Raises ValueError when rows give one key or signature different attributes."""
    keys = (
        df.filter(pl.col("key_name").is_not_null())
        .select(list(schema.KEYS)[1:])
        .unique("key_name", keep="first", maintain_order=True)
        .sort("key_name")
        .with_row_index("key_id")
        .select([pl.col(c).cast(t) for c, t in schema.KEYS.items()])
    )
    signatures = (
        df.select(list(schema.SIGNATURES)[1:])
        .unique("signature", keep="first", maintain_order=True)
        .sort("signature")
        .with_row_index("signature_id")
        .select([pl.col(c).cast(t) for c, t in schema.SIGNATURES.items()])
    )
    # A key (signature) has one set of attributes: a literal that gives two is a broken test.
    for table, by in ((keys, "key_name"), (signatures, "signature")):
        attributes = df.filter(pl.col(by).is_not_null()).select(table.columns[1:]).unique()
        if attributes.height != table.height:
            clash = attributes.filter(pl.col(by).is_duplicated())[by].unique().sort().to_list()
            raise ValueError(f"rows disagree on the attributes of {by} {clash}")
    narrow = (
        df.drop("key_id", "signature_id")
        .join(keys.select("key_name", "key_id"), on="key_name", how="left", maintain_order="left")
        .join(
            signatures.select("signature", "signature_id"),
            on="signature",
            how="left",
            maintain_order="left",
        )
        .select(list(schema.COMMANDS))
    )
    sources = (
        df.select(list(dataset.SOURCES))
        .unique(maintain_order=True)
        .sort("source")
        .cast(dataset.SOURCES)  # type: ignore[arg-type]
    )
    return dataset.Tables(rows=narrow.lazy(), keys=keys, signatures=signatures, sources=sources)


def source_tables(
    sources: Sequence[parse.Source], ctx: make.Context | None = None, **source_rows: Any
) -> dataset.Tables:
    """The tables of real MONITOR files, through the analyzer's one row path."""
    ctx = ctx or make.Context.create()
    chunks = [c for s in sources for c in make.source_rows(s, ctx, **source_rows)]
    return dataset.Tables(
        rows=pl.concat([schema.empty(), *chunks]).lazy(),
        keys=ctx.keys.table(),
        signatures=ctx.signatures.table(),
        sources=pl.DataFrame(
            [(Path(s.path).name, s.node, s.shard, s.role) for s in sources],
            schema=dataset.SOURCES,
            orient="row",
        ),
    )


def parse_log(path: str | Path, ctx: make.Context | None = None, **source: Any) -> pl.DataFrame:
    """The wide rows of one MONITOR file (`source`: the other `parse.Source` fields)."""
    return parse_logs([parse.Source(Path(path), **source)], ctx)


def parse_logs(sources: Sequence[parse.Source], ctx: make.Context | None = None) -> pl.DataFrame:
    """The wide rows of MONITOR files, in file order."""
    return source_tables(sources, ctx).wide().collect()


def split_log(path: str | Path) -> pl.DataFrame:
    """Per command line of a MONITOR file, in file order: `ts`, `db`, `client`, `command`,
    `arg_count`, `request_bytes` and `args` (each argument as quoted, escapes unresolved) —
    the arguments no output keeps, as the row path's native core splits them."""
    chunks = parse.line_chunks(parse.open_source(parse.Source(Path(path))), parse.CHUNK_BYTES)
    parts = [parse.split_rows(c) for c in chunks]
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts)


def found_keys(
    argvs: Sequence[Sequence[str]], specs: keyspecs.KeySpecs | None = None
) -> pl.DataFrame:
    """Per command line (argv as MONITOR prints it, escapes unresolved) what the native core
    finds by key spec, every line taken whole (no fast path): `command`, `args`,
    `key_raw` (the first key as quoted), `keys_raw` (every key, when more than one),
    `key_count`, `arg_shape`."""
    plan = find.plan(specs or keyspecs.load())
    lines = [
        f"1.{i} [0 10.0.0.1:5] " + " ".join(f'"{a}"' for a in argv) + "\n"
        for i, argv in enumerate(argvs)
    ]
    scanned = scanner.scan("".join(lines).encode(), plan.parser(fast=False))
    tails = scanned.tails.select(pl.all().gather(scanned.frame["_tail"]))
    return tails.select(
        "command", "args", "key_count", "arg_shape", key_raw="_tail_key_raw", keys_raw="_keys_raw"
    )


def write_outputs(
    folder: Path, t: dataset.Tables, findings: Any = None, database: bool = True
) -> Path:
    """An analysis folder as `analyze` writes it: `commands/` (one chunk per shard) and the
    tables beside it, and, when `database`, hotshard.db (rows, keys, views, signatures and, with
    `findings`, the other summary tables). Returns the database path."""
    from hotshard.analyze.render import query_tables
    from hotshard.analyze.store import sqlite as db

    narrow = t.rows.collect()
    path = folder / db.DB_NAME
    if database:
        db.create_commands(path)
    per_shard: Iterable[tuple[list[pl.DataFrame], str]] = [
        ([part], shard)
        for (shard,), part in sorted(narrow.partition_by("shard", as_dict=True).items())
    ]

    def added(chunk: pl.DataFrame) -> None:
        if database:
            db.append_commands(path, db.commands_arrow(chunk))

    dataset.write_sources(per_shard, folder / dataset.COMMANDS_DIR, added)
    dataset.write_tables(folder, t.keys, t.signatures, t.sources)
    if database:
        db.write_dimensions(path, t)
        if findings is None:  # the view still needs every signature
            db.write_summaries(path, {"signatures": t.signatures})
        else:
            db.write_summaries(
                path,
                query_tables.tables(findings, t.signatures),
                query_tables.info(findings),
            )
    return path


def workload() -> pl.DataFrame:
    """A small three-shard workload with distinct counts everywhere (no ties in rankings).

    Shard 0001 gets the hot zset read in full, 0002 lists and hashes, 0003 strings; plus
    replicated writes and script sub-commands that must never count as client traffic.
    """
    rows: list[dict[str, Any]] = []
    t = 1_700_000_000.0

    def add(n: int, **values: Any) -> None:
        nonlocal t
        for _ in range(n):
            t += 0.01
            rows.append(row(ts=t, **values))

    def on(shard: str, client: str) -> dict[str, str]:
        node = f"10.0.0.{int(shard)}:6379"
        source = f"{shard}-replica-10.0.0.{int(shard)}_6379.monitor.zst"
        return {"shard": shard, "node": node, "source": source, "client": client}

    z = on("0001", "10.0.9.1:5000")
    add(
        50,
        command="zrevrange",
        key="large_sortedset:app:2025-10-17",
        arg_shape="0 -1",
        key_pattern="large_sortedset:app:{DATE}",
        reply_bytes=1_000_000,
        **z,
    )
    add(
        7,
        command="zrevrange",
        key="large_sortedset:app:2025-10-16",
        arg_shape="0 99",
        key_pattern="large_sortedset:app:{DATE}",
        reply_bytes=2_000,
        **z,
    )
    add(3, command="get", key="user:1", key_pattern="user:{N}", reply_bytes=50, **z)
    l2 = on("0002", "10.0.9.2:5001")
    add(
        30,
        command="lrange",
        key="queue:jobs",
        arg_shape="0 -1",
        key_pattern="queue:jobs",
        reply_bytes=5_000,
        **l2,
    )
    add(20, command="hgetall", key="session:abc", key_pattern="session:{ID}", reply_bytes=800, **l2)
    add(11, command="smembers", key="tags:set", key_pattern="tags:set", reply_bytes=300, **l2)
    s3 = on("0003", "10.0.9.3:5002")
    add(40, command="get", key="user:2", key_pattern="user:{N}", reply_bytes=60, **s3)
    add(9, command="get", key="user:3", key_pattern="user:{N}", reply_bytes=60, **s3)
    add(5, command="ping", key=None, key_pattern=None, reply_bytes=7, **s3)
    add(
        4,
        command="set",
        key="user:2",
        key_pattern="user:{N}",
        origin="replicated",
        client="10.0.0.13:6379",
        reply_bytes=0,
        reply_confidence="none",
        **{k: v for k, v in s3.items() if k != "client"},
    )
    add(
        2,
        command="get",
        key="user:9",
        key_pattern="user:{N}",
        origin="script",
        client="lua",
        client_kind="lua",
        reply_bytes=0,
        reply_confidence="none",
        **{k: v for k, v in s3.items() if k != "client"},
    )
    return commands(rows)


def findings(df: pl.DataFrame, top: int = 20, warnings: list[str] | None = None):
    """Findings over a commands frame, as the pipeline would build them (one log per shard)."""
    from hotshard.analyze.findings import rollups
    from hotshard.analyze.findings.found import Findings
    from hotshard.analyze.findings.verdict import recommendations, verdict
    from hotshard.analyze.read.inputs import InputInfo
    from hotshard.analyze.read.window import Window

    r = rollups.compute(tables(df))
    v = verdict(r)
    stats = (
        df.group_by("source", "node", "shard")
        .agg(
            parsed=pl.len().cast(pl.Int64),
            first_ts=pl.col("ts").min(),
            last_ts=pl.col("ts").max(),
        )
        .with_columns(
            lines_total=pl.col("parsed") + 1,
            skipped=pl.lit(1, pl.Int64),
            errors=pl.lit(0, pl.Int64),
            truncated_last_line=pl.lit(False),
            error_examples=pl.lit([], pl.List(pl.String)),
            note=pl.lit(None, pl.String),
        )
        .sort("source")
    )
    first, last = df["ts"].min(), df["ts"].max()
    return Findings(
        inputs=[InputInfo(name=s, kind="log") for s in sorted(set(df["source"].to_list()))],
        window=Window(start=first, end=last),
        line_stats=stats,
        rollups=r,
        verdict=v,
        recommendations=recommendations(r, v),
        top=top,
        warnings=warnings or [],
    )
