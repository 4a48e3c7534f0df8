"""Fixtures of the unit tests."""

from pathlib import Path

import pytest


@pytest.fixture
def inventory(tmp_path):
    """Writes an inventory directory for a province with these overrides (YAML flow mapping's inside)."""
    def write(overrides: str = "", province: str = "hanam") -> Path:
        (tmp_path / "govmail.yml").write_text(f"province: {province}\noverrides: {{{overrides}}}\n")
        return tmp_path
    return write
