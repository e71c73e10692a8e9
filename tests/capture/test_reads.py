"""Both halves' whole-collection reads (capture/format/reads.py) agree on the same lines.

Capture ranks the keys to sample from raw arguments (`sizing.rank_keys`), analyze flags full reads
from the rows' arg shapes (`breakdowns.full_read`): one MONITOR file through both product paths."""

from __future__ import annotations

from hotshard.analyze.findings import breakdowns
from hotshard.capture import sizing
from hotshard.capture.format import reads
from tests.frames import parse_log

# One key per line (the line's number), so capture's per-key weight tells its verdict on the line.
READS = """
ZREVRANGE 0 -1 | ZREVRANGE 0 -1 WITHSCORES | ZREVRANGE 0 99 | zrange 0 -1 withscores
ZRANGE 0 -1 REV | ZRANGE 0 -1 BYSCORE | ZRANGE -inf +inf BYSCORE | ZRANGE +inf -inf BYSCORE REV
ZRANGE -inf +inf BYSCORE REV | ZRANGE -inf +inf BYSCORE LIMIT 0 10 | ZRANGE (1 +inf BYSCORE
ZRANGE - + BYLEX | ZRANGE + - BYLEX REV | ZRANGEBYSCORE -inf +inf | ZRANGEBYSCORE -INF +INF
ZRANGEBYSCORE 0 100 | ZRANGEBYSCORE -inf +inf LIMIT 0 5 | ZREVRANGEBYSCORE +inf -inf WITHSCORES
ZRANGEBYLEX - + | ZREVRANGEBYLEX + - | ZRANGEBYLEX - + BYLEX | XRANGE - + | XRANGE - + COUNT 10
XRANGE 1-0 + | XREVRANGE + - | LRANGE 0 -1 | LRANGE 0 10 | LRANGE -100 -1 | HGETALL | HKEYS
HVALS | SMEMBERS | SINTER other | SORT | SORT LIMIT 0 5 | SORT STORE dst | SORT_RO ALPHA
GET | MGET other | DUMP | HGET f | SSCAN 0 | ZSCORE m | LINDEX 0
"""


def test_capture_and_analyze_agree_on_whole_collection_reads(tmp_path):
    calls = [c.strip().split() for c in READS.replace("\n", "|").split("|") if c.strip()]
    path = tmp_path / "reads.monitor.log"
    with path.open("w") as out:
        for i, (command, *args) in enumerate(calls):
            words = [command, f"k{i}", *args]
            out.write(f"1697549123.{i:06d} [0 10.0.0.1:5] " + " ".join(f'"{w}"' for w in words))
            out.write("\n")
    weights = sizing.rank_keys(path, {})
    rows = parse_log(path).select("key_name", "command", "arg_shape", full=breakdowns.full_read())
    assert rows.height == len(calls)
    verdicts = []
    for key, command, shape, analyzed in rows.iter_rows():
        captured = weights[key.encode()] == sizing.FULL_READ_WEIGHT
        if command in reads.WHOLE_VALUES:  # capture also weighs up whole strings, DUMP
            assert captured and not analyzed, (command, shape)
            continue
        assert captured == analyzed, (command, key, shape)
        verdicts.append(analyzed)
    assert True in verdicts and False in verdicts
