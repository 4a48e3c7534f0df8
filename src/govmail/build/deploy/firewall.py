"""The host's firewall: govmail's nftables table, and fail2ban banning the addresses that keep failing to log
in."""

from __future__ import annotations

from pyinfra.api import deploy

from ..components import Component
from .common import install, put_files, restart_if_changed


def _installed_and_running(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))


firewall = deploy("govmail's nftables table")(_installed_and_running)
bans = deploy("fail2ban: bans the addresses that keep failing to log in")(_installed_and_running)
