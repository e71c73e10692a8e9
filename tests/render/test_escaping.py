"""Keys are data from production: whatever bytes they hold must not reach a terminal as escape
sequences, inject markdown (headings, table rows, broken code spans) or break JUnit XML.

One MONITOR log holds keys with every byte 0x00-0xFF, newlines followed by markdown, backticks,
ESC sequences and a bidi override; `check`, `diff`, `query` and `analyze` run on it through the
real entry point."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hotshard.capture.cli import run
from hotshard.capture.errors import ExitStatus
from hotshard.capture.format.escape import cell, code, printable
from tests.commands.test_analyze import T0, line, write_log

NASTY = [
    b"line\n## injected heading\n| a | b |",
    b"back`tick``s",
    b"`leading",
    b"\x1b[31mred\x1b[0m",
    b"bell\x07",
    "\u202eevil".encode(),
    b"pipe|key",
    b'<xml attr="&amp;"/>',
]
# Raw control characters a terminal acts on (newline and tab excepted: the output's own).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


def keys() -> list[bytes]:
    return [b"k" + bytes([b]) + b"k" for b in range(256)] + NASTY


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nasty")
    lines = []
    for i, key in enumerate(keys()):
        lines.append(line(T0 + i / 1000, "10.0.0.1:5000", "GET", key))
        lines.append(line(T0 + i / 1000, "10.0.0.1:5000", "KEYS", key))
    return write_log(folder / "nasty.log", lines)


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    # Every key breaks key_rate, every KEYS breaks forbidden_commands: all of them get named.
    path = tmp_path_factory.mktemp("rules") / "rules.toml"
    path.write_text('[key_rate]\nmax_ops_per_s = 0\n[forbidden_commands]\ncommands = ["keys"]\n')
    return path


def assert_inert(text: str) -> None:
    assert not RAW_CONTROL.search(text), repr(RAW_CONTROL.search(text))


def test_check_markdown_console_and_junit_hold_any_key(log, rules, tmp_path, capsys):
    junit = tmp_path / "check.xml"
    status = run(["check", str(log), "--rules", str(rules), "--junit", str(junit)])
    out, err = capsys.readouterr()
    assert status == ExitStatus.ERROR
    assert "Traceback" not in err
    assert_inert(out)
    assert_inert(err)
    # No injected headings or table rows: only the page's own.
    headings = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert headings == [
        "## hotshard check: 2 of 2 rule(s) broken",
        "### `forbidden_commands`",
        "### `key_rate`",
    ]
    assert sum(ln.startswith("|") for ln in out.splitlines()) == 2 + 2
    violations = [ln for ln in out.splitlines() if ln.startswith("- key ")]
    assert len(violations) == len(keys())
    # Each key is one intact code span: the fence outlasts any backtick run inside.
    assert "- key ```back`tick``s``` on shard" in out
    assert "- key `` `leading `` on shard" in out
    assert "- key `\\x1b[31mred\\x1b[0m` on shard" in out
    assert "- key `line\\n## injected heading\\n| a | b |` on shard" in out

    suite = ET.parse(junit).getroot()  # well-formed, whatever the keys
    failure = next(c for c in suite.iter("testcase") if c.get("name") == "key_rate").find("failure")
    text = failure.text
    assert len(text.splitlines()) == len(keys())
    assert "`\\u202eevil`" in text and '`<xml attr="&amp;"/>`' in text
    assert "`k\\x00k`" in text and "`k\\xffk`" in text


def test_diff_and_query_hold_any_key(log, tmp_path, capsys):
    other = write_log(tmp_path / "after.log", [line(T0, "10.0.0.1:5000", "GET", b"x\x1b]0;t\x07")])
    assert run(["diff", str(log), str(other), "--top", "1000"]) == ExitStatus.OK
    out, err = capsys.readouterr()
    assert_inert(err)
    assert_inert(out)
    assert [ln for ln in out.splitlines() if ln.startswith("#")] == [
        "# hotshard diff: `nasty.log` → `after.log`",
        "## Shards",
        "## Key patterns",
        "## Command signatures",
    ]
    # Every table row has exactly its 8 cell borders: no key split a row.
    rows = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert rows and all(len(re.findall(r"(?<!\\)\|", ln)) == 8 for ln in rows)

    out_dir = tmp_path / "out"
    assert run(["analyze", str(log), "--out", str(out_dir), "--quiet"]) == ExitStatus.OK
    out = capsys.readouterr().out
    assert_inert(out)
    report = (out_dir / "report.md").read_text()
    assert_inert(report)
    sql = (
        "SELECT key_name, COUNT(*) AS n FROM commands WHERE key_name NOT NULL GROUP BY 1 ORDER BY 1"
    )
    assert run(["query", sql, "--db", str(out_dir)]) == ExitStatus.OK
    out = capsys.readouterr().out
    assert_inert(out)
    assert f"({len(keys())} rows)" in out  # one line per key: no key broke a row
    assert len(out.splitlines()) == len(keys()) + 3


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("\x1b[2J", "\\x1b[2J"),
        ("\x9b31m", "\\x9b31m"),  # the one-byte CSI of C1
        ("\u202egnp.exe", "\\u202egnp.exe"),
        ("tab\tbell\x07", "tab\\tbell\\a"),
        ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d"),  # printable text stays as it is
    ],
)
def test_printable(raw, shown):
    assert printable(raw) == shown


def test_code_and_cell():
    assert code("a`b") == "``a`b``"
    assert code("``x") == "``` ``x ```"
    assert code("x" * 100, limit=10) == "`xxxxxxxxx…`"
    assert cell(code("a|b\nc")) == "`a\\|b\\nc`"


def test_a_label_with_control_characters_is_refused(log, tmp_path, capsys):
    for flag in ("--shard", "--node"):
        argv = ["analyze", str(log), flag, "0001\x1b[2J\n## Injected", "--out", str(tmp_path)]
        assert run(argv) == ExitStatus.USAGE
        err = capsys.readouterr().err
        assert_inert(err)
        assert f"{flag} '0001\\x1b[2J\\n## Injected': a label must be" in err
