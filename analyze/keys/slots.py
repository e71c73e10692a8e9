"""The cluster slot of each command's first key: CRC16-XMODEM of the key (or of its hash tag)
modulo 16384, exactly as `CLUSTER KEYSLOT` computes it.

The analyzer's key dictionary slots each distinct key in the native core (analyze/native/src/
keys.rs); this is the same rule for one key, for the checks and tools written in Python.
"""

from __future__ import annotations

import binascii

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
