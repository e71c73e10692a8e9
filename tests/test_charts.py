"""Charts: literal text whatever the key names, one golden per chart from a fixed input."""

from __future__ import annotations

from pathlib import Path

from capture.cli import run
from capture.errors import ExitStatus
from tests.test_pipeline import line, write_log

MATH_KEYS = ("$$", "lock:$$", "a:$^$", "$total$")


def test_key_names_are_literal_text_in_charts(tmp_path: Path, capsys):
    """matplotlib reads `$...$` as mathtext: `$$` killed the analysis, `$total$` went italic."""
    lines = [
        line(1000.0 + i / 10, "10.0.0.1:5000", "GET", key)
        for i, key in enumerate(k for k in MATH_KEYS for _ in range(5))
    ]
    log = write_log(tmp_path / "m.log", lines)
    out = tmp_path / "out"
    assert run(["analyze", str(log), "--out", str(out), "--quiet"]) == ExitStatus.OK
    svg = (out / "charts" / "patterns.svg").read_text()
    for key in MATH_KEYS:  # each legend entry is the key as written, in the plain font
        assert f">{key}</text>" in svg, key
    assert "italic" not in svg
    assert run(["check", str(out)]) in (ExitStatus.OK, ExitStatus.ERROR)
    assert "internal error" not in capsys.readouterr().err
