"""The rows dataset: `OUT/commands/` (Parquet, partitioned by shard), written a chunk at a time
as the sources are read, with the small tables beside it, and read back lazily as `Tables`.

On disk (an analysis output folder):

    commands/shard=<id>/*.parquet   rows (schema.COMMANDS)
    keys.parquet                    one row per distinct first key (schema.KEYS)
    signatures.parquet              one row per distinct signature (schema.SIGNATURES)
    sources.parquet                 one row per input file: source, node, shard, role

Takes each source's chunks of rows; hands on the dataset's files (`write_sources`) and the
`Tables` the later stages read (`read`). `wide` joins them into one row per command with every
attribute (slot, pattern, signature, role, client kind...), the shape SQLite's `commands_wide`
view has too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.read.inputs import Inputs, Source

# docs/BENCHMARKS.md: zstd costs more time than the smaller files are worth.
PARQUET_COMPRESSION: Literal["lz4"] = "lz4"
COMMANDS_DIR = "commands"
KEYS_NAME = "keys.parquet"
SIGNATURES_NAME = "signatures.parquet"
SOURCES_NAME = "sources.parquet"

SOURCES: dict[str, pl.DataType] = {
    "source": pl.String(),
    "node": pl.String(),
    "shard": pl.String(),
    "role": pl.String(),  # primary | replica | unknown
}


def write_sources(
    sources: Iterable[tuple[Iterable[pl.DataFrame], str]],
    folder: Path,
    done: Callable[[pl.DataFrame], None] | None = None,
    source_done: Callable[[], None] | None = None,
) -> list[Path]:
    """Write each source's chunks of rows to `folder/shard=<id>/<n>-<k>.parquet`, one after
    the other, calling `done(rows)` as each chunk is written (SQLite takes them on the other
    core) and `source_done()` after each source. Returns the files."""
    for n, (chunks, shard) in enumerate(sources):
        for k, chunk in enumerate(chunks):
            path = folder / f"shard={quote(shard, safe='')}" / f"{n:05d}-{k:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            schema.for_parquet(chunk).write_parquet(path, compression=PARQUET_COMPRESSION)
            if done is not None:
                done(chunk)
            del chunk  # its rows go before the next chunk is read
        if source_done is not None:
            source_done()
    return _files(folder)


def _files(folder: Path) -> list[Path]:
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        empty = folder / "shard=unknown" / "00000000.parquet"
        empty.parent.mkdir(parents=True, exist_ok=True)
        schema.for_parquet(schema.empty()).write_parquet(empty)
        files = [empty]
    return files


def scan(files: list[Path]) -> pl.LazyFrame:
    """The dataset's rows, every column of `schema.COMMANDS` in its type."""
    # The shard is a column inside the files: no hive parsing (it would read "0001" as 1).
    return (
        schema.with_all_columns(pl.scan_parquet(files, hive_partitioning=False))
        .select(list(schema.COMMANDS))
        .cast(schema.COMMANDS)  # type: ignore[arg-type]
    )


def sources_table(sources: Iterable[Source]) -> pl.DataFrame:
    """One row per source file: its name, node, shard and role."""
    return pl.DataFrame(
        [(Path(s.path).name, s.node, s.shard, s.role) for s in sources],
        schema=SOURCES,
        orient="row",
    )


def write_key_sizes(path: Path, inputs: Inputs) -> None:
    """The capture's sampled key sizes beside the commands, so `check` can judge an output alone."""
    if not inputs.key_sizes:
        return
    # `vars`, not `dataclasses.asdict` (a deep copy, slow for many keys): the fields are scalars
    # but a small hash's field names, which only the reply model needs (user data: left out).
    rows = [{n: v for n, v in vars(k).items() if n != "fields"} for k in inputs.key_sizes]
    frame = pl.DataFrame(rows, infer_schema_length=None).sort(["node", "key"])
    frame.write_parquet(path)


@dataclass(frozen=True)
class Tables:
    rows: pl.LazyFrame  # schema.COMMANDS
    keys: pl.DataFrame  # schema.KEYS
    signatures: pl.DataFrame  # schema.SIGNATURES
    sources: pl.DataFrame  # SOURCES

    def wide(self) -> pl.LazyFrame:
        return wide(self)


def read(folder: Path) -> Tables:
    """The tables of an analysis output folder (lazily for the rows)."""
    files = sorted((folder / COMMANDS_DIR).rglob("*.parquet"))
    rows = scan(files) if files else schema.empty().lazy()
    return Tables(
        rows=rows,
        keys=_read(folder / KEYS_NAME, schema.KEYS),
        signatures=_read(folder / SIGNATURES_NAME, schema.SIGNATURES),
        sources=_read(folder / SOURCES_NAME, SOURCES),
    )


def _read(path: Path, table: dict[str, pl.DataType]) -> pl.DataFrame:
    if not path.is_file():
        return schema.empty(table)
    return pl.read_parquet(path).cast(table)  # type: ignore[arg-type]


def write_tables(
    folder: Path, keys: pl.DataFrame, signatures: pl.DataFrame, sources: pl.DataFrame
) -> None:
    """The small tables beside `commands/`."""
    keys.write_parquet(folder / KEYS_NAME, compression=PARQUET_COMPRESSION)
    signatures.write_parquet(folder / SIGNATURES_NAME, compression=PARQUET_COMPRESSION)
    sources.sort("source").write_parquet(folder / SOURCES_NAME, compression=PARQUET_COMPRESSION)


def roles(sources: pl.DataFrame) -> pl.DataFrame:
    """node -> role (one row per node). A node seen in two roles (files from before and after a
    failover) takes the least by name, as SQLite's `commands_wide` does: never the input order."""
    return sources.group_by("node").agg(pl.col("role").min()).sort("node")


def client_columns(client: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """`client_kind` (schema.CLIENT_KINDS) and `client_ip` (null for unix/lua/internal) of an
    address as MONITOR prints it."""
    kind = (
        pl.when(client == "lua")
        .then(pl.lit("lua"))
        .when(client.str.starts_with("unix:"))
        .then(pl.lit("unix"))
        .when(client == "")
        .then(pl.lit("internal"))
        .otherwise(pl.lit("ip"))
    )
    # ip:port -> ip, [v6]:port -> v6
    ip = (
        pl.when(client.str.starts_with("["))
        .then(client.str.extract(r"^\[(.*)\]:"))
        .when(kind == "ip")
        .then(client.str.splitn(":", 2).struct.field("field_0"))
    )
    return kind.alias("client_kind"), ip.alias("client_ip")


WIDE_COLUMNS = (
    *schema.COMMANDS,
    "role",
    "client_ip",
    "client_kind",
    "key_binary",
    "key_bytes",
    "slot",
    "key_pattern",
    "signature",
    "arg_shape",
)


def wide(t: Tables) -> pl.LazyFrame:
    """One row per command with every attribute of its key, signature, node and client."""
    kind, ip = client_columns(pl.col("client"))
    return (
        t.rows.join(
            t.keys.lazy().select("key_id", "key_binary", "key_bytes", "slot", "key_pattern"),
            on="key_id",
            how="left",
            maintain_order="left",
        )
        .join(
            t.signatures.lazy().select("signature_id", "signature", "arg_shape"),
            on="signature_id",
            how="left",
            maintain_order="left",
        )
        .join(roles(t.sources).lazy(), on="node", how="left", maintain_order="left")
        .with_columns(kind, ip, role=pl.col("role").fill_null("unknown"))
        .select(WIDE_COLUMNS)
    )
