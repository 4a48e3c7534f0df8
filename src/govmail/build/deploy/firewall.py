"""The host's firewall: govmail's nftables table, and fail2ban banning the addresses that keep failing to log
in."""

from __future__ import annotations

from pyinfra.api import deploy

from ..components import Component
from .common import install, put_files, restart_if_changed


@deploy("Firewall and fail2ban")
def firewall(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))
