"""`govmail verify` against an inventory other than the lab's own, as an operator's CI runs it after a deploy:
a staging copy of the lab inventory (the same host, its own copy of the secret store), read only; what holds
and what does not, in JUnit XML; an unreachable host; the checks that change the host only when allowed."""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from govmail.build.secretstore import store_dir
from govmail.model import settings
from govmail.model.profile import known_provinces
from mailflow import REPO

pytestmark = pytest.mark.e2e


def staging(tmp_path: Path, deployment, province: str | None = None, address: str | None = None) -> Path:
    """A copy of the lab inventory elsewhere, with the deploy's secrets in its own store."""
    inventory = tmp_path / "staging"
    shutil.copytree(REPO / "inventories" / "lab", inventory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(deployment.secrets.directory, store_dir(str(inventory)), dirs_exist_ok=True)
    config = yaml.safe_load((inventory / "govmail.yml").read_text())
    config["province"] = province or deployment.settings.province
    (inventory / "govmail.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    if address:
        hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
        for host in hosts["all"]["children"]["mail"]["hosts"].values():
            host["ansible_host"] = address
        (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def verify(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GOVMAIL_TEST_PROVINCE", "GOVMAIL_ENGINE")}
    return subprocess.run([sys.executable, "-m", "govmail.cli", "verify", "--inventory", str(inventory), *args],
                          capture_output=True, text=True, cwd="/", env=env, timeout=900)


def junit(path: Path) -> dict[str, str]:
    """Each test case's outcome: passed, failure, error or skipped."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        cases[case.get("name")] = outcome
    return cases


CHECKS = "test_policy_values_equal_the_profile or test_slapd_installed_running_and_listening or " \
         "test_issued_password_must_be_changed"


def test_a_staging_inventory_is_checked_read_only_and_reported_in_junit(tmp_path, deployment, once):
    report = tmp_path / "verify.xml"
    run = verify(staging(tmp_path, deployment), "--junit-xml", str(report), "--", "-k", CHECKS)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert junit(report) == {"test_policy_values_equal_the_profile": "passed",
                             "test_slapd_installed_running_and_listening": "passed"}, "and nothing that changes it"


def test_a_host_that_does_not_obey_its_inventory_fails_by_name(tmp_path, deployment, once):
    """The same host checked against another province's profile: its password policy is not that one's."""
    deployed = deployment.settings.policies["users"]
    other = next(p for p in known_provinces() if settings.load(p).policies["users"].min_length != deployed.min_length)
    report = tmp_path / "verify.xml"
    run = verify(staging(tmp_path, deployment, province=other), "--junit-xml", str(report), "--", "-k",
                 "test_policy_values_equal_the_profile")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr
    assert junit(report) == {"test_policy_values_equal_the_profile": "failure"}


def test_a_host_that_does_not_answer_is_named_and_nothing_is_checked(tmp_path, deployment, once):
    report = tmp_path / "verify.xml"
    run = verify(staging(tmp_path, deployment, address="10.213.0.250"), "--junit-xml", str(report))
    assert run.returncode == 4, run.stdout + run.stderr
    assert "10.213.0.250 does not answer over SSH" in run.stderr and not report.exists()


def test_checks_that_change_the_host_run_only_when_allowed(tmp_path, deployment, once):
    inventory = staging(tmp_path, deployment)
    refused = verify(inventory, "--", "-k", "test_issued_password_must_be_changed")
    assert refused.returncode == 2 and "only with --allow-changes" in refused.stderr, refused.stdout + refused.stderr
    allowed = verify(inventory, "--allow-changes", "--", "-k", "test_issued_password_must_be_changed")
    assert allowed.returncode == 0, allowed.stdout[-3000:] + allowed.stderr
