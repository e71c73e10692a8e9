"""The one golden-file mechanism: compare with the file, or rewrite it under --update-golden.

A missing golden fails like a changed one: only `just update-golden` writes goldens, and the
diff is reviewed like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def check(path: Path, text: str, update: bool) -> None:
    """Assert `text` equals the golden file `path`; with `update`, rewrite it and skip."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"{path.name}: golden rewritten")
    if not path.exists():
        pytest.fail(f"{path} is missing: write it with `just update-golden` and review it")
    assert text == path.read_text(encoding="utf-8"), (
        f"{path} differs from the current output (`just update-golden` if that is intended)"
    )
