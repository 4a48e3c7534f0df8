"""Monitoring: the exporters on the mail host; Prometheus, Alertmanager and the prober on the monitoring
server (the mail host itself, or the inventory's `monitor` host)."""

from __future__ import annotations

from pyinfra.api import deploy

from ..components import Component
from .common import install, put_files, restart_if_changed


def _install(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))


exporters = deploy("The exporters and govmail's own metrics")(_install)
server = deploy("Prometheus, Alertmanager and the prober")(_install)
