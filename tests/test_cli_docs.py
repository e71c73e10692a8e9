"""Every command has help text and is documented in the README (as sqlite-utils does)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from hotshard.capture.cli import COMMANDS

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help_and_readme_entry(name: str):
    doc = inspect.getdoc(COMMANDS[name]) or ""
    assert doc.strip(), f"hotshard {name} has no docstring (its --help page)"
    params = [p for p in inspect.signature(COMMANDS[name]).parameters if p not in ("inputs",)]
    undocumented = [p for p in params if f"{p}:" not in doc]
    assert not undocumented, f"hotshard {name}: flags without help text: {undocumented}"
    assert f"hotshard {name}" in README, f"README does not mention `hotshard {name}`"
