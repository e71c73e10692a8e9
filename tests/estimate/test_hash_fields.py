"""HGET/HMGET of fields a hash does not have: null replies, where the sample saw every field."""

from __future__ import annotations

import random

import polars as pl

from hotshard.analyze.commands.analyze import AnalyzeOptions, run_analyze
from hotshard.analyze.estimate import replies, sampled_sizes
from hotshard.analyze.store import dataset
from hotshard.capture import sizing
from hotshard.capture.format.manifest import KeySize
from hotshard.capture.session import CaptureOptions
from tests.capturing import background_capture
from tests.estimate.test_replies import DIGITS, NODE, estimate, frame, with_key_columns
from tests.resp import RawConnection


def test_hget_of_missing_fields_on_a_real_node(engine_node, tmp_path):
    """A hash of 20 fields, 70% of the HGETs (RESP2 and RESP3 clients) and HMGET fields asking
    for fields it lacks: the estimate is within 3% of the bytes the clients received."""
    node = engine_node
    rng = random.Random(24)
    resp2 = RawConnection(node.host, node.port)
    resp3 = RawConnection(node.host, node.port)
    resp3.reply_size("HELLO", 3)
    # MONITOR quotes a field with a space, a quote or a non-UTF-8 byte: matched all the same
    names: list[str | bytes] = [f"f{i}" for i in range(17)] + ["a field", 'q"x', b"bin\xff\n"]
    fields = {name: "v" * rng.randint(20, 400) for name in names}
    resp2.reply_size("HSET", "profile:1", *[x for kv in fields.items() for x in kv])
    options = CaptureOptions(
        endpoints=[node.address], out=str(tmp_path / "cap"), nodes="all", duration=120, quiet=True
    )
    received = {"hget": 0, "hmget": 0}
    with background_capture(options) as bg:
        bg.wait_started(files=1)
        for i in range(200):
            app = resp3 if i % 4 == 0 else resp2
            asked = rng.choice(names) if rng.random() < 0.3 else f"gone{i}"
            received["hget"] += app.reply_size("HGET", "profile:1", asked)
            if i % 10 == 0:
                some = [rng.choice(names), f"nope{i}", f"x{i}"]
                received["hmget"] += app.reply_size("HMGET", "profile:1", *some)
        bg.stop()
        result = bg.result
    resp2.close()
    resp3.close()
    assert result is not None
    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(inputs=[str(result.folder)], out=str(out), quiet=True))
    rows = (
        dataset.read(out)
        .rows.filter(pl.col("command").is_in(["hget", "hmget"]))
        .group_by("command")
        .agg(pl.col("reply_bytes").sum(), pl.col("reply_confidence").unique().sort())
        .sort("command")
        .collect()
    )
    # Field names are user data the outputs do not need: only the capture holds them.
    assert b"a field" not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert "fields" not in pl.read_parquet(out / "key_sizes.parquet").columns
    by_command = {r["command"]: r for r in rows.iter_rows(named=True)}
    for command, got in received.items():
        estimate = by_command[command]["reply_bytes"]
        assert abs(estimate / got - 1) < 0.03, (command, estimate, got)
        assert by_command[command]["reply_confidence"] == ["sampled"]


def test_only_a_small_hash_seen_whole_keeps_its_fields():
    pairs = [(f"f{i}".encode(), b"v" * i) for i in range(5)]
    assert sizing._all_fields(pairs, 5) == {f"f{i}": i for i in range(5)}
    assert sizing._all_fields([(b"a\xff b", b"vv")], 1) == {"a\\xff b": 2}  # as MONITOR quotes
    assert sizing._all_fields(pairs, 6) is None  # the sample missed a field
    many = [(f"f{i}".encode(), b"v") for i in range(sizing.FIELDS_MAX + 1)]
    assert sizing._all_fields(many, len(many)) is None
    long = [(b"x" * (sizing.FIELD_BYTES_MAX + 1), b"v")]
    assert sizing._all_fields(long, 1) is None


def test_hits_and_misses_by_field_in_both_protocols():
    """Field by field: a value the sample showed, a null reply for one it did not; all fields no
    sample showed are one combination of the model."""
    size = KeySize(
        node=NODE, key="h", type="hash", cardinality=2, sample_n=2, avg_value_len=150.0,
        avg_field_len=1.0, fields={"a": 3, "b": 300},
    )  # fmt: skip
    sizes = sampled_sizes.sizes_frame([size], DIGITS)
    argvs = [("HGET", "h", "a"), ("HGET", "h", "gone1"), ("HGET", "h", "gone2")]
    argvs += [("HMGET", "h", "b", "x", "y"), ("HGET", "other", "a")]
    for proto, null in ((2, 5), (3, 3)):
        got = estimate(frame(argvs), sizes, proto).collect()
        assert got["reply_bytes"].to_list()[:4] == [3 + 5 + 1, null, null, 4 + 308 + 2 * null]
        assert got["reply_confidence"].to_list()[:4] == ["sampled"] * 4
        assert got["reply_confidence"][4] == "unknown"  # no sample of that key
    lookup = replies.Lookup(sizes)
    feats = with_key_columns(frame(argvs[1:3]), lookup).select(**lookup.features()).collect()
    assert feats.n_unique() == 1
