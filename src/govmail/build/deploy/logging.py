"""Logs: logrotate's rules for every log file the services write, and the journal's limits."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from ..components import Component
from .common import any_changed, install, put_files, restart_if_changed


@deploy("Logs kept as long as the inventory says")
def logging(component: Component, content: dict[str, str]):
    install(component)       # removes the packages' own rotation rules (component.absent)
    changed = put_files(component, content)
    systemd.service(name="journald reads its limits", service="systemd-journald", restarted=True,
                    _if=any_changed(changed))
    restart_if_changed(component, changed)
