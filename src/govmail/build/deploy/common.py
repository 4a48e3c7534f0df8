"""Operations every service deploy uses: rendered files and Debian packages with debconf answers."""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from io import StringIO

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd

from ..components import Component
from ..layout import UNIT_DIR


# Every file operation of this deploy, by host: the deploy record runs when any of them changed something.
_PUT_FILES: dict[str, list] = {}


def put_files(component: Component, content: dict[str, str]) -> list:
    """Put the component's files (same bytes, mode and group whichever engine deploys)."""
    ops = [files.put(name=f"Render {f.path}", src=StringIO(content[f.path]), dest=f.path, user="root",
                     group=f.group, mode=f.mode.lstrip("0")) for f in component.files]
    _PUT_FILES.setdefault(host.name, []).extend(ops)
    return ops


def record_deploy(facts: dict) -> None:
    """Last: a line in the host's deploy log (when, who, which files) if this deploy changed any file."""
    operator = f"{os.environ.get('SUDO_USER') or getpass.getuser()}@{socket.gethostname()}"
    server.shell(name="Record this deploy in the host's deploy log", _if=any_changed(_PUT_FILES.get(host.name, [])),
                 commands=[f"{facts['deploy_record']} pyinfra {shlex.quote(operator)}"])


def install(component: Component) -> None:
    """Install the component's packages, answering their debconf questions first so the postinst configures
    nothing govmail writes itself."""
    if component.debconf:
        answers = files.put(name=f"{component.name} debconf answers", src=StringIO(component.debconf),
                            dest=f"/etc/govmail/debconf/{component.name}", mode="600")
        server.shell(name=f"Load {component.name} debconf answers", _if=answers.did_change,
                     commands=[f"debconf-set-selections /etc/govmail/debconf/{component.name}"])
    apt.packages(name=f"Install {component.name}", packages=list(component.packages), no_recommends=True,
                 update=True, cache_time=3600)
    for unit in component.kept_off:
        systemd.service(name=f"{unit} stays off", service=unit, running=False, enabled=False)
    withdraw(component)


def withdraw(component: Component) -> None:
    """The files that must not be there go: the packages' own that govmail's replace, and govmail's of a
    configuration the inventory no longer has (their units stop for good first)."""
    units = [unit for unit in component.withdrawn_units if host.get_fact(File, path=f"{UNIT_DIR}/{unit}")]
    if units:
        server.shell(name=f"{', '.join(units)} stop for good", commands=[f"systemctl disable --now {' '.join(units)}"])
    removed = [files.file(name=f"No {path}", path=path, present=False) for path in component.absent + component.withdrawn]
    if units:
        systemd.daemon_reload(name="systemd forgets the withdrawn units", _if=any_changed(removed))


def pending(step: dict) -> bool:
    """The host has no stamp of this step for this content (read before the deploy changes anything)."""
    return not host.get_fact(File, path=step["stamp"])


def any_changed(ops: list):
    """An `_if=` condition: true once any of these operations has changed something."""
    return lambda: any(op.did_change() for op in ops)


def restart_if_changed(component: Component, changed: list) -> None:
    """Restart the component's services when any of their files changed; either way they run and start at
    boot."""
    services = list(component.services)
    if component.unit_files:
        systemd.daemon_reload(name="systemd reads govmail's unit files", _if=any_changed(changed))
        # `enabled=True` below only checks; a changed [Install] section needs its links made again.
        server.shell(name=f"Enable {', '.join(services)} as their units now say", _if=any_changed(changed),
                     commands=[f"systemctl reenable {' '.join(services)}"])
    for service in services:
        systemd.service(name=f"Restart {service} after a change", service=service, restarted=True,
                        _if=any_changed(changed))
        systemd.service(name=f"{service} runs", service=service, running=True, enabled=True)
