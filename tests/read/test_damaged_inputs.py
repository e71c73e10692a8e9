"""Inputs that would silently give wrong results: the same data twice, a killed capture, a node
restarted mid-capture. Each test damages a real copy of samples/hot-zset the way it happens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format.reader import MonitorFile
from tests.samples_fixture import SAMPLES

SAMPLE = SAMPLES / "hot-zset"


def analyze(capsys, out: Path, *inputs: str | Path) -> tuple[int, str, str]:
    status = run(["analyze", *map(str, inputs), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def health(out: Path) -> str:
    report = (out / "report.md").read_text()
    return report.split("## Health")[1].split("\n## ")[0]


def copy_sample(tmp_path: Path, name: str = "capture") -> Path:
    return Path(shutil.copytree(SAMPLE, tmp_path / name))


def edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def node_file(folder: Path, shard: str) -> Path:
    return next(folder.glob(f"{shard}-*.monitor.zst"))


@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("truth") / "out"
    assert run(["analyze", str(SAMPLE), "--out", str(out), "--quiet"]) == ExitStatus.OK
    return summary(out)


# -- the same input twice -------------------------------------------------------------------
def _refused(capsys, tmp_path, *inputs) -> str:
    status, out, err = analyze(capsys, tmp_path / "out", *inputs)
    assert status == ExitStatus.USAGE, out
    assert "Traceback" not in err and err.count("\n") == 1
    assert "counted twice" in err
    assert not (tmp_path / "out").exists()
    return err


def test_the_same_folder_twice_is_refused(tmp_path, capsys):
    err = _refused(capsys, tmp_path, SAMPLE, SAMPLE)
    assert "given twice" in err
    # Another spelling of the same folder is the same folder.
    _refused(capsys, tmp_path, SAMPLE, f"{SAMPLE}/../{SAMPLE.name}/")


def test_a_folder_and_one_of_its_own_files_is_refused(tmp_path, capsys):
    own = node_file(SAMPLE, "0002")
    err = _refused(capsys, tmp_path, SAMPLE, own)
    assert f"is already part of capture folder {SAMPLE}" in err
    # A symlink to it is the same file under another name.
    link = tmp_path / "link.monitor.zst"
    link.symlink_to(own)
    _refused(capsys, tmp_path, link, SAMPLE)


def test_a_copy_by_content_is_refused(tmp_path, capsys):
    copy = tmp_path / "renamed.zst"
    shutil.copyfile(node_file(SAMPLE, "0001"), copy)
    err = _refused(capsys, tmp_path, SAMPLE, copy)
    assert "has the same content as" in err and "renamed.zst" in err
    # Two copies of a capture folder, and two copies of a plain log, too.
    _refused(capsys, tmp_path, SAMPLE, copy_sample(tmp_path))
    twin = tmp_path / "twin.zst"
    shutil.copyfile(copy, twin)
    _refused(capsys, tmp_path, copy, twin)


def test_distinct_inputs_are_still_all_read(tmp_path, capsys):
    # Two different files of the capture given as plain logs: both read, nothing refused.
    files = [node_file(SAMPLE, "0001"), node_file(SAMPLE, "0002")]
    alone = []
    for i, f in enumerate(files):
        assert analyze(capsys, tmp_path / f"alone{i}", f)[0] == ExitStatus.OK
        alone.append(summary(tmp_path / f"alone{i}")["commands"]["total"])
    status, _, err = analyze(capsys, tmp_path / "out", *files)
    assert status == ExitStatus.OK, err
    assert summary(tmp_path / "out")["commands"]["total"] == sum(alone) > 0


# -- a killed capture -----------------------------------------------------------------------
def _shard_ids(s: dict) -> list[str]:
    return sorted(x["shard"] for x in s["shards"])


def _expected_skew(truth: dict, without: str) -> float:
    """The skew over the shards that are left, from the intact analysis' per-shard bytes."""
    values = {x["shard"]: x["est_bytes_out"] for x in truth["shards"] if x["shard"] != without}
    hot = max(values, key=values.get)
    others = sorted(v for s, v in values.items() if s != hot)
    return values[hot] / others[len(others) // 2] if len(others) % 2 else None


def test_a_missing_file_is_reported_and_its_shard_left_out(tmp_path, capsys, truth):
    folder = copy_sample(tmp_path)
    gone = node_file(folder, "0001")
    gone.unlink()
    status, _, err = analyze(capsys, tmp_path / "out", folder)
    assert status == ExitStatus.OK
    s = summary(tmp_path / "out")
    assert _shard_ids(s) == ["0002", "0003"]  # not an idle 0001
    assert s["hot_shard"]["skew_ratio"] == pytest.approx(_expected_skew(truth, "0001"), rel=1e-6)
    text = health(tmp_path / "out")
    assert f"{gone.name} is missing from the capture folder" in text
    assert "shard 0001: no data" in text and "left out of the shard comparison" in text
    assert "No problems found" not in text
    overview = (tmp_path / "out" / "report.md").read_text().split("## Health")[0]
    assert "status complete, data missing for 1 node" in overview
    assert "shard 0001: no data" in err  # on the console too


def test_a_killed_capture_says_it_is_unfinished(tmp_path, capsys, truth):
    """SIGKILL: the manifest stays at `running`, and a node killed before its first flush
    leaves a 0-byte file."""
    folder = copy_sample(tmp_path)

    def killed(m: dict) -> None:
        m["status"], m["ended_at"] = "running", None
        for n in m["nodes"]:
            n.update(ended_at=None, stop_reason=None, info_after=None)

    edit_manifest(folder, killed)
    node_file(folder, "0003").write_bytes(b"")
    status, _, _ = analyze(capsys, tmp_path / "out", folder)
    assert status == ExitStatus.OK
    s = summary(tmp_path / "out")
    assert _shard_ids(s) == ["0001", "0002"]
    assert s["hot_shard"]["skew_ratio"] == pytest.approx(_expected_skew(truth, "0003"), rel=1e-6)
    text = health(tmp_path / "out")
    assert "did not finish: its manifest still says running" in text
    assert "is empty (0 bytes" in text
    assert "No problems found" not in text


def test_every_file_missing_is_one_clear_line(tmp_path, capsys):
    folder = copy_sample(tmp_path)
    for f in folder.glob("*.monitor.zst"):
        f.unlink()
    status, _, err = analyze(capsys, tmp_path / "out", folder)
    assert status == ExitStatus.USAGE
    assert "Traceback" not in err
    assert "missing" in err.splitlines()[-1]


# -- a node restarted during the capture ----------------------------------------------------
def test_a_restarted_node_has_unknown_measured_bytes_with_the_reason(tmp_path, capsys, truth):
    folder = copy_sample(tmp_path)
    restarted = {}

    def restart(m: dict) -> None:
        node = next(n for n in m["nodes"] if n["monitored"] and n["shard"] == "0002")
        restarted["node"] = node["node"]
        after = node["info_after"]["sections"]
        # What a restart does: a new run_id, uptime from zero, every counter from zero.
        after["server"]["run_id"] = "f" * 40
        after["server"]["uptime_in_seconds"] = 3
        after["stats"]["total_net_output_bytes"] = 1_000
        after["stats"]["total_net_repl_output_bytes"] = 0

    edit_manifest(folder, restart)
    status, _, _ = analyze(capsys, tmp_path / "out", folder)
    assert status == ExitStatus.OK
    nodes = {n["node"]: n for n in summary(tmp_path / "out")["nodes"]}
    before = {n["node"]: n for n in truth["nodes"]}
    assert before[restarted["node"]]["measured_bytes_out"] is not None
    assert nodes[restarted["node"]]["measured_bytes_out"] is None  # not negative
    others = [n for n in nodes if n != restarted["node"]]
    assert all(nodes[n]["measured_bytes_out"] == before[n]["measured_bytes_out"] for n in others)
    text = health(tmp_path / "out")
    assert f"node {restarted['node']} (shard 0002): the server restarted" in text
    assert "run_id changed" in text and "measured bytes out are unknown" in text
    report = (tmp_path / "out" / "report.md").read_text()
    row = next(ln for ln in report.splitlines() if ln.startswith(f"| `{restarted['node']}`"))
    assert " — " in row and "kB" not in row.split("|")[6]
    assert "the server restarted during it: see Health" in report


def test_uptime_going_backwards_is_a_restart_too():
    from hotshard.capture.format.counters import counters_reset
    from hotshard.capture.format.manifest import InfoSnapshot

    def snap(uptime: int, run_id: str = "a" * 40) -> InfoSnapshot:
        return InfoSnapshot(
            at=0, sections={"server": {"run_id": run_id, "uptime_in_seconds": uptime}}
        )

    assert counters_reset(snap(100), snap(130)) is None
    assert "uptime went from 100 s to 4 s" in counters_reset(snap(100), snap(4))
    assert "run_id" in counters_reset(snap(100), snap(130, "b" * 40))
    assert counters_reset(snap(100), None) is None


def test_read_placement_ignores_a_restarted_node():
    """The capture's "reads ran on an unmonitored node" check compares commandstats too: a
    restart there once showed "122% of the shard's reads"."""
    from hotshard.capture import placement
    from hotshard.capture.format.manifest import InfoSnapshot, NodeCapture

    def snap(calls: int, run_id: str, uptime: int) -> InfoSnapshot:
        return InfoSnapshot(
            at=0,
            sections={
                "server": {"run_id": run_id, "uptime_in_seconds": uptime},
                "commandstats": {"cmdstat_get": {"calls": calls}},
            },
        )

    def node(name: str, role: str, monitored: bool, before: InfoSnapshot, after: InfoSnapshot):
        return NodeCapture(
            node=name, host="h", port=1, role=role, shard="0001", monitored=monitored,
            info_before=before, info_after=after,
        )  # fmt: skip

    replica = node("r:1", "replica", True, snap(100, "a" * 40, 50), snap(1100, "a" * 40, 80))
    primary = node("p:1", "primary", False, snap(9000, "b" * 40, 50), snap(5000, "c" * 40, 10))
    warnings = placement.check([replica, primary], placement.FALLBACK_READS)
    assert len(warnings) == 1
    assert "p:1 (primary, not monitored): the server restarted" in warnings[0]
    assert "% of the shard's reads" not in warnings[0]
    # Without the restart, the same counters are a real miss, and still reported.
    primary.info_after = snap(15000, "b" * 40, 80)
    (miss,) = placement.check([replica, primary], placement.FALLBACK_READS)
    assert "6,000 reads (86% of the shard's reads) ran on p:1" in miss


def test_an_empty_plain_log_is_no_idle_shard(tmp_path, capsys):
    """`redis-cli monitor > file` killed before its first line leaves 0 bytes: no data, so its
    shard is not compared as an idle one."""
    logs = []
    for shard in ("0001", "0002"):
        logs.append(tmp_path / f"{shard}.log")
        logs[-1].write_bytes(zstd_text(node_file(SAMPLE, shard)))
    empty = tmp_path / "0003.log"
    empty.write_bytes(b"")
    status, _, err = analyze(capsys, tmp_path / "out", *logs, empty, "--shard", "0001,0002,0003")
    assert status == ExitStatus.OK, err
    s = summary(tmp_path / "out")
    assert _shard_ids(s) == ["0001", "0002"]
    assert "0003.log is empty (0 bytes): no MONITOR data in it" in health(tmp_path / "out")
    status, _, err = analyze(capsys, tmp_path / "out2", empty)
    assert status == ExitStatus.USAGE and "every file is missing or empty" in err


def zstd_text(path: Path) -> bytes:
    return b"".join(MonitorFile(path).blocks())


def test_a_damaged_single_frame_zst_is_analyzed_up_to_the_damage(tmp_path, capsys):
    """What `zstd file` writes is one frame: damage in its middle kept nothing and raised a
    traceback. Now every whole block before the damage is analyzed, and a warning says where
    the text stopped."""
    import zstandard

    lines = [
        f'+1700000000.{i:06d} [0 10.0.0.1:5000] "GET" "user:{i % 5000}:profile"\r\n'
        for i in range(60_000)
    ]
    text = "".join(lines).encode()  # ~3.6 MB: many zstd blocks of at most 128 KiB
    data = bytearray(zstandard.ZstdCompressor().compress(text))
    middle = len(data) // 2
    data[middle : middle + 32] = bytes(b ^ 0xFF for b in data[middle : middle + 32])
    log = tmp_path / "monitor.log.zst"
    log.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert run(["analyze", str(log), "--out", str(out), "--quiet"]) == ExitStatus.OK
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "damaged zstd data after" in err and "monitor.log.zst" in err
    summary = json.loads((out / "summary.json").read_text())
    got = summary["commands"]["total"]
    assert 0 < got < len(lines)  # the lines before the damage, not the ones after
    assert got > len(lines) // 4  # whole blocks before the middle were kept
