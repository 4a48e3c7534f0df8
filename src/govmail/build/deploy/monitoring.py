"""Monitoring: Prometheus, Alertmanager and the exporters on the mail host, all on loopback."""

from __future__ import annotations

from pyinfra.api import deploy

from ..components import Component
from .common import install, put_files, restart_if_changed


@deploy("Prometheus, Alertmanager and the exporters")
def monitoring(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))
