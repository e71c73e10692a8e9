"""The cluster slot of each command's first key: CRC16-XMODEM of the key (or of its hash tag)
modulo 16384, exactly as `CLUSTER KEYSLOT` computes it.

CRC16 is a byte-serial loop that Polars expressions cannot express well, so the work is done
with `binascii.crc_hqx` (C) once per distinct key (`hotshard.analyze.rows.dictionaries` calls `slots` on each
key the first time it is seen). Python touches each distinct key, never each line.
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


def slots(key_bytes: pl.Series) -> pl.Series:
    """The slot of each key of a Binary Series (null stays null)."""
    crc = binascii.crc_hqx
    out = [
        None
        if k is None
        else (hash_slot(k) if b"{" in k else crc(k, 0) % SLOTS)  # hash tags are rare
        for k in key_bytes.to_list()
    ]
    return pl.Series("slot", out, dtype=pl.Int32)
