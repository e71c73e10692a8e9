"""The cluster slot of each command's first key: CRC16-XMODEM of the key (or of its hash tag)
modulo 16384, exactly as `CLUSTER KEYSLOT` computes it.

CRC16 is a byte-serial loop that Polars expressions cannot express well, so the work is done on
the distinct keys of each streaming batch (hot keys repeat, and a batch holds ~30k rows) with
`binascii.crc_hqx` (C), then mapped back with a hash lookup in Polars. Python touches each
distinct key of a batch once, never each line.
"""

from __future__ import annotations

import binascii

import polars as pl

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


def _slots(keys: pl.Series) -> pl.Series:
    """Slots of a batch of key bytes (nulls stay null), computed once per distinct key."""
    distinct = keys.drop_nulls().unique()
    slots = pl.Series([hash_slot(k) for k in distinct.to_list()], dtype=pl.Int32)
    return keys.replace_strict(distinct, slots, default=None, return_dtype=pl.Int32)


def slot_expr(key_bytes: pl.Expr) -> pl.Expr:
    """Slot of a Binary key expression (null stays null)."""
    return key_bytes.map_batches(_slots, return_dtype=pl.Int32, is_elementwise=True)


def add_slot(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Add `slot` (Int32): the cluster slot of `key_bytes`, null for commands without a key."""
    return lf.with_columns(slot=slot_expr(pl.col("key_bytes")))
