"""Fixtures of the unit tests."""

from pathlib import Path

import pytest
import yaml


@pytest.fixture
def inventory(tmp_path):
    """Writes an inventory directory for a province with these overrides (YAML flow mapping's inside)."""
    def write(overrides: str = "", province: str = "hanam") -> Path:
        (tmp_path / "govmail.yml").write_text(f"province: {province}\noverrides: {{{overrides}}}\n")
        return tmp_path
    return write


@pytest.fixture
def hosts_yml():
    """Writes an inventory's hosts.yml: {group: {host name: ansible_host}}."""
    def write(inventory_dir: Path, groups: dict[str, dict[str, str]]) -> Path:
        children = {group: {"hosts": {name: {"ansible_host": address} for name, address in hosts.items()}}
                    for group, hosts in groups.items()}
        (inventory_dir / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}, sort_keys=False))
        return inventory_dir
    return write
