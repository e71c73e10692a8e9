"""Slots match the server's own CLUSTER KEYSLOT, hash tags included."""

from __future__ import annotations

import random

import polars as pl

from hotshard.analyze.keys.slots import hash_slot
from hotshard.analyze.read.scanner import KeyIds
from hotshard.capture.format.lines import escape_bytes
from tests.servers import start_node

TAGGED = [
    b"{}",
    b"{a}",
    b"a{}{b}",
    b"{a}{b}",
    b"a{b}c",
    b"}{",
    b"{",
    b"}",
    b"{{a}}",
    b"a{{b}}",
    b"{user1000}.following",
    b"{user1000}.followers",
    b"foo{}{bar}",
    b"foo{{bar}}zap",
    b"foo{bar}{zap}",
    b"",
    b"large_sortedset:app:2025-10-17",
    b"caf\xc3\xa9",
    b"\x00\xff{\xfe}",
]


def _keys() -> list[bytes]:
    rnd = random.Random(7)
    keys = list(TAGGED)
    for _ in range(1500):
        n = rnd.randrange(0, 24)
        alphabet = b"ab{}:\x00\xff-"
        keys.append(bytes(rnd.choice(alphabet) for _ in range(n)))
        keys.append(f"user:{rnd.randrange(10**6)}:profile".encode())
    return keys


def test_slots_match_cluster_keyslot(tmp_path):
    node = start_node(tmp_path, cluster=True)
    try:
        client = node.client()
        keys = _keys()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", key)
        truth = pipe.execute()
    finally:
        node.stop()
    assert [hash_slot(k) for k in keys] == truth
    # The native core's, from the keys as MONITOR quotes them (once per distinct key).
    quoted = pl.Series([*(escape_bytes(k) for k in keys), None], dtype=pl.String)
    key_ids = KeyIds()
    ids, _ = key_ids.ids(quoted)
    assert ids[-1] is None
    table = key_ids.table()
    assert table["slot"].gather(ids[:-1]).to_list() == truth
    assert table["key_bytes"].gather(ids[:-1]).to_list() == keys
