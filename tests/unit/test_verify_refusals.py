"""`govmail verify`'s refusals, before any host is reached (its checks against a host: tests/e2e/test_verify.py)."""

from pathlib import Path

import pytest

from govmail import verify
from govmail.errors import BadInput


def test_a_directory_without_govmail_yml_is_not_an_inventory(tmp_path: Path):
    with pytest.raises(BadInput, match="govmail.yml: no inventory settings file"):
        verify.run(tmp_path, None, False, None, ())


def test_an_inventory_without_a_mail_host_names_its_hosts_file(tmp_path: Path):
    (tmp_path / "govmail.yml").write_text("province: hanam\n")
    (tmp_path / "hosts.yml").write_text("all:\n  children:\n    backup:\n      hosts: {b1: {ansible_host: 192.0.2.7}}\n")
    with pytest.raises(BadInput, match=r"hosts.yml: no host in group `mail`"):
        verify.run(tmp_path, None, False, None, ())


def test_a_typo_in_the_inventory_is_named_before_any_host_is_reached(tmp_path: Path):
    (tmp_path / "govmail.yml").write_text("province: hanam\noverrides: {quotas: {personal: 5GG}}\n")
    (tmp_path / "hosts.yml").write_text("all:\n  children:\n    mail:\n      hosts: {m1: {ansible_host: 192.0.2.7}}\n")
    with pytest.raises(BadInput, match="quotas"):
        verify.run(tmp_path, None, False, None, ())


def test_without_the_checks_of_a_checkout_it_says_where_to_run(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(verify, "CHECKS", tmp_path / "nowhere" / "tests" / "infra")
    with pytest.raises(BadInput, match="run it from a clone of govmail"):
        verify.run(tmp_path, None, False, None, ())
