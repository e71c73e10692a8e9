"""The README's transcripts (`$ hotshard check …`, `$ hotshard diff …`) are real output.

Each ```text block of README.md that starts with `$ hotshard ` is run in-process through the
real entry point, in the repository folder, and compared with what the block shows: stdout, the
one stderr line of a broken rule, and `exit status: N`. `just update-golden` rewrites them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from hotshard.capture.cli import run

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"```text\n(\$ hotshard [^\n]*)\n(.*?)```", re.S)


def transcript(command: str, tmp: Path) -> str:
    """What the README shows for `command`: its output, then `exit status: N`."""
    argv = shlex.split(command.removeprefix("$ hotshard "))
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        # A --junit file goes to a temporary folder, not into the repository.
        argv = [str(tmp / a) if a.endswith(".xml") else a for a in argv]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = run(argv)
    finally:
        os.chdir(cwd)
    lines = [ln for ln in err.getvalue().splitlines() if not ln.startswith("hotshard: [")]
    return out.getvalue() + "".join(f"{ln}\n" for ln in lines) + f"exit status: {int(status)}\n"


def test_readme_transcripts_are_real_output(tmp_path, update_golden):
    text = README.read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 3, "the README lost its check/diff transcripts"
    fresh = text
    for command, shown in blocks:
        got = transcript(command, tmp_path)
        if update_golden:
            fresh = fresh.replace(
                f"```text\n{command}\n{shown}```", f"```text\n{command}\n{got}```"
            )
        else:
            assert got == shown, f"README transcript of `{command}` is stale: just update-golden"
    if update_golden:
        README.write_text(fresh, encoding="utf-8")
        pytest.skip("README transcripts rewritten")
