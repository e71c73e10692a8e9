"""capture/format/commands.py reads a real server's COMMAND reply, raw (bytes, as capture gets
it) and saved (the manifest's JSON text), the same way."""

from __future__ import annotations

from hotshard.analyze.estimate.replication import write_commands
from hotshard.analyze.keys import keyspecs
from hotshard.analyze.measure.unshown import hidden_commands
from hotshard.capture import placement
from hotshard.capture.connect import ConnectOptions, control_client
from hotshard.capture.format.commands import commands
from hotshard.capture.format.manifest import jsonable
from hotshard.capture.sizing import key_positions


def test_raw_and_saved_replies_read_alike(redis_node):
    client = control_client(redis_node.host, redis_node.port, ConnectOptions())
    raw = client.execute_command("COMMAND")
    saved = jsonable(raw)
    assert isinstance(raw[0][0], bytes) and isinstance(saved[0][0], str)
    for sub in (False, True):
        assert list(commands(raw, sub)) == list(commands(saved, sub))
    by_name = {c.name: c for c in commands(saved, subcommands=True)}
    assert by_name["get"].first_key == 1 and "readonly" in by_name["get"].flags
    assert "write" in by_name["set"].flags
    assert by_name["client|list"].first_key == 0  # a subcommand, named as its container's
    assert "client|list" not in {c.name for c in commands(saved)}
    # The readers built on it: capture's and analyze's.
    reads = placement.readonly_commands(raw)
    assert "get" in reads and "set" not in reads and reads == placement.readonly_commands(saved)
    assert key_positions(saved)["get"] == 1 and key_positions(saved)["ping"] == 0
    writes = write_commands(saved)
    assert {"set", "zadd", "del"} <= writes and "get" not in writes
    hidden = hidden_commands(saved)
    assert "config|get" in hidden and "get" not in hidden
    specs = keyspecs.load(saved)
    assert keyspecs.load(raw) == specs  # the key specs too (bytes were read as "b'get'")
    assert specs.positions(["ZUNIONSTORE", "d", "2", "a", "b"]) == [1, 3, 4]
    assert specs.positions(["OBJECT", "ENCODING", "k"]) == [2]
