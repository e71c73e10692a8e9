"""The cluster slot of each command's first key: CRC16-XMODEM of the key (or of its hash tag)
modulo 16384, exactly as `CLUSTER KEYSLOT` computes it.

CRC16 is a byte-serial loop that Polars expressions cannot express well, so the work is done
with `binascii.crc_hqx` (C) once per distinct key of the run (`distinct.PerDistinct` remembers
them across streaming batches), then mapped back with a hash lookup in Polars. Python touches
each distinct key, never each line.
"""

from __future__ import annotations

import binascii

import polars as pl

from analyze.distinct import PerDistinct

SLOTS = 16384


def hash_slot(key: bytes) -> int:
    """The slot of one key: the hash tag rule is the first `{` and the first `}` after it, when
    there is something between them."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key, 0) % SLOTS


def _slots(distinct: pl.Series) -> pl.Series:
    return pl.Series([hash_slot(k) for k in distinct.to_list()], dtype=pl.Int32)


def slot_expr(key_bytes: pl.Expr) -> pl.Expr:
    """Slot of a Binary key expression (null stays null)."""
    per_key = PerDistinct(_slots, pl.Int32())
    return key_bytes.map_batches(per_key, return_dtype=pl.Int32, is_elementwise=True)


def add_slot(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Add `slot` (Int32): the cluster slot of `key_bytes`, null for commands without a key."""
    return lf.with_columns(slot=slot_expr(pl.col("key_bytes")))
