"""`govmail verify`: the host checks (tests/infra) against any inventory's mail host, not just the lab's.

A thin wrapper over pytest, run from a govmail checkout (the checks are tests, not package code): it reaches
the host as the inventory's hosts.yml says, checks nothing that changes the host unless allowed, never the
lab's own services, and can write JUnit XML for a CI system. Exit codes: 0 every check holds, 1 one does
not, 2 bad input (or no check selected), 4 the host does not answer over SSH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from govmail import reach
from govmail.errors import BadInput
from govmail.model import settings

CHECKS = Path(__file__).resolve().parents[2] / "tests" / "infra"
NO_CHECK_SELECTED = 5           # pytest's exit code when nothing was collected


def target_of(inventory: Path) -> reach.SshTarget:
    target = reach.mail_host(inventory)
    if target is None:
        raise BadInput(f"{inventory / 'hosts.yml'}: no host in group `mail`")
    return target


def ensure_answers(target: reach.SshTarget) -> None:
    probe = subprocess.run(target.command() + ["true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise reach.Unreachable(f"{target.address} does not answer over SSH ({probe.stderr.strip() or probe.returncode}): "
                                "nothing was checked")


def pytest_command(allow_changes: bool, junit_xml: Path | None, extra: tuple[str, ...]) -> list[str]:
    selected = "not lab_services" if allow_changes else "not lab_services and not changes"
    return [sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", "-m", selected,
            *([f"--junit-xml={junit_xml.resolve()}"] if junit_xml else []), *extra]


def run(inventory: Path, province: str | None, allow_changes: bool, junit_xml: Path | None,
        extra: tuple[str, ...]) -> int:
    if not CHECKS.is_dir():
        raise BadInput(f"govmail verify runs the host checks in a govmail checkout ({CHECKS} is missing): run it "
                       "from a clone of govmail")
    settings.load(province, inventory)       # a typo in the inventory is named before any host is reached
    ensure_answers(target_of(inventory))
    env = {**os.environ, "GOVMAIL_VERIFY_INVENTORY": str(inventory.resolve()), "GOVMAIL_ENGINE": "none"}
    env.pop("CI", None)         # the project's own CI turns skips into failures; an operator's CI must not
    env.pop("GOVMAIL_TEST_PROVINCE", None)
    if province:
        env["GOVMAIL_TEST_PROVINCE"] = province
    code = subprocess.run(pytest_command(allow_changes, junit_xml, extra), cwd=CHECKS.parents[1], env=env).returncode
    if code == NO_CHECK_SELECTED:
        raise BadInput("no check selected" + ("" if allow_changes else
                                                " (checks that change the host run only with --allow-changes)"))
    return 0 if code == 0 else 1
