"""The capture folder format round-trips, refuses what it cannot read, and never holds a secret."""

import json

import pytest

from hotshard.capture.errors import ManifestError
from hotshard.capture.format import lines
from hotshard.capture.format import manifest as mf


def _sample() -> mf.Manifest:
    node = mf.NodeCapture(
        node="127.0.0.1:7001",
        host="127.0.0.1",
        port=7001,
        role="replica",
        shard="0001",
        slots=[(0, 5460)],
        monitored=True,
        file="0001-replica-127.0.0.1_7001.monitor.zst",
        gaps=[mf.Gap(start=1.0, end=2.0, reason="connection reset")],
        info_before=mf.InfoSnapshot(
            at=1.0, sections={"stats": {"total_net_output_bytes": 10}}, reply_bytes=5000
        ),
    )
    return mf.Manifest(
        cluster="demo",
        nodes=[node],
        shards=[mf.ShardInfo(shard="0001", slots=[(0, 5460)], nodes=[node.node])],
        options={"duration": 10, "password": "hunter2"},
    )


def test_round_trip(tmp_path):
    m = _sample()
    mf.write(tmp_path, m)
    back = mf.read(tmp_path)
    assert back.nodes[0].gaps[0].reason == "connection reset"
    assert back.nodes[0].info_before.sections["stats"]["total_net_output_bytes"] == 10
    assert back.nodes[0].slots == [(0, 5460)]
    assert back.shards[0].nodes == ["127.0.0.1:7001"]


def test_password_never_written(tmp_path):
    mf.write(tmp_path, _sample())
    text = (tmp_path / mf.MANIFEST_NAME).read_text()
    assert "hunter2" not in text
    assert json.loads(text)["options"]["password"] == "(given)"
    assert (tmp_path / mf.MANIFEST_NAME).stat().st_mode & 0o777 == 0o600


def test_newer_version_refused(tmp_path):
    data = _sample().to_dict()
    data["format_version"] = mf.FORMAT_VERSION + 1
    (tmp_path / mf.MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="upgrade hotshard"):
        mf.read(tmp_path)


def test_missing_manifest_says_what_to_do(tmp_path):
    with pytest.raises(ManifestError, match="capture folder"):
        mf.read(tmp_path)


@pytest.mark.parametrize(
    "raw", [b"plain", b"caf\xc3\xa9", b"bin\xff\x00", b'q"uote\\ \n\r\t\x07\x08', b"\\xff"]
)
def test_escape_round_trip(raw):
    assert lines.unescape_bytes(lines.escape_bytes(raw)) == raw
    text, binary = lines.key_text(raw)
    assert (lines.unescape_bytes(text) if binary else text.encode()) == raw


def test_a_v2_manifest_reads_with_no_engine_name_and_no_slot_stats(tmp_path):
    data = _sample().to_dict()
    data["format_version"] = 2
    for node in data["nodes"]:
        del node["server_name"], node["slot_stats"]
    (tmp_path / mf.MANIFEST_NAME).write_text(json.dumps(data))
    back = mf.read(tmp_path)
    assert back.format_version == mf.FORMAT_VERSION
    assert (back.nodes[0].server_name, back.nodes[0].slot_stats) == (None, None)


def _read_as_v3(folder):
    """The sample manifest written as format 3 wrote it (no polls, own calls, reply sizes or
    Pub/Sub counts), read back."""
    data = _sample().to_dict()
    data["format_version"] = 3
    for node in data["nodes"]:
        del node["polls"], node["poll_client"], node["own_calls"], node["reply_sizes"]
        del node["pubsub"]
    (folder / mf.MANIFEST_NAME).write_text(json.dumps(data))
    return mf.read(folder)


def test_a_v3_manifest_reads_with_no_polls(tmp_path):
    back = _read_as_v3(tmp_path)
    assert back.format_version == mf.FORMAT_VERSION
    assert (back.nodes[0].polls, back.nodes[0].poll_client) == ([], None)


def test_polls_round_trip(tmp_path):
    m = _sample()
    m.nodes[0].polls = [mf.InfoPoll(5.0, 1200, None, 30, monitor_bytes=700, overhead_bytes=90)]
    m.nodes[0].poll_client = "127.0.0.1:51000"
    mf.write(tmp_path, m)
    back = mf.read(tmp_path).nodes[0]
    assert (back.polls, back.poll_client) == (m.nodes[0].polls, "127.0.0.1:51000")


def test_a_v3_manifest_reads_with_own_calls_unknown(tmp_path):
    back = _read_as_v3(tmp_path)
    assert back.format_version == mf.FORMAT_VERSION
    # Unknown, not "none": the analyzer must not take the capture's own calls for an agent's.
    assert (back.nodes[0].own_calls, back.nodes[0].reply_sizes, back.nodes[0].pubsub) == (
        None,
        {},
        None,
    )


def test_own_calls_and_reply_sizes_round_trip(tmp_path):
    m = _sample()
    m.nodes[0].own_calls = {"client|list": 12, "info": 1}
    m.nodes[0].reply_sizes = {"client|list": 2116, "info": 5196}
    m.nodes[0].pubsub = {"channels": {"news": 2}, "shard_channels": {}, "patterns": 0}
    mf.write(tmp_path, m)
    back = mf.read(tmp_path).nodes[0]
    assert (back.own_calls, back.reply_sizes, back.pubsub) == (
        m.nodes[0].own_calls,
        m.nodes[0].reply_sizes,
        m.nodes[0].pubsub,
    )


def test_slot_stats_round_trip(tmp_path):
    m = _sample()
    m.nodes[0].slot_stats = mf.SlotStats(
        "ok", before_at=1.0, after_at=2.0, delta={"42": {"network-bytes-out": 7}}
    )
    mf.write(tmp_path, m)
    assert mf.read(tmp_path).nodes[0].slot_stats == m.nodes[0].slot_stats


def test_a_v4_manifest_reads_with_one_sample(tmp_path):
    data = _sample().to_dict()
    data["format_version"] = 4
    del data["key_sizes_start_file"]
    for node in data["nodes"]:
        del node["sampler_client"]
        del node["client_protocols"]
    (tmp_path / mf.MANIFEST_NAME).write_text(json.dumps(data))
    back = mf.read(tmp_path)
    assert back.format_version == mf.FORMAT_VERSION == 7
    assert back.key_sizes_start_file is None
    assert [n.sampler_client for n in back.nodes] == [None] * len(back.nodes)
    assert mf.read_key_sizes(tmp_path, back, start=True) == []


def test_a_v5_manifest_reads_without_client_protocols(tmp_path):
    data = _sample().to_dict()
    data["format_version"] = 5
    for node in data["nodes"]:
        del node["client_protocols"]
    (tmp_path / mf.MANIFEST_NAME).write_text(json.dumps(data))
    back = mf.read(tmp_path)
    assert back.format_version == mf.FORMAT_VERSION == 7
    assert [n.client_protocols for n in back.nodes] == [{}] * len(back.nodes)


def test_client_protocols_round_trip(tmp_path):
    m = _sample()
    m.nodes[0].client_protocols = {"10.0.0.1:5000": 3}
    mf.write(tmp_path, m)
    assert mf.read(tmp_path).nodes[0].client_protocols == {"10.0.0.1:5000": 3}


def test_a_v6_manifest_reads_as_slots_not_reread(tmp_path):
    data = _sample().to_dict()
    data["format_version"] = 6
    del data["slots_after"]
    (tmp_path / mf.MANIFEST_NAME).write_text(json.dumps(data))
    back = mf.read(tmp_path)
    assert back.format_version == mf.FORMAT_VERSION == 7
    assert back.slots_after is None


def test_slots_after_round_trips(tmp_path):
    m = _sample()
    m.slots_after = {"10.0.0.1:6379": [(0, 100), (200, 300)]}
    mf.write(tmp_path, m)
    assert mf.read(tmp_path).slots_after == {"10.0.0.1:6379": [(0, 100), (200, 300)]}
