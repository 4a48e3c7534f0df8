"""ClamAV and SpamAssassin, each behind its milter; OpenDKIM and OpenDMARC. ClamAV's signatures come from the
sources the inventory names (freshclam), besides govmail's own file; SpamAssassin's rules from the package."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server, systemd

from ..components import Component
from .common import any_changed, install, pending, put_files, restart_if_changed

# The daily sa-update would try the internet; rules come from the package.


@deploy("ClamAV")
def clamav(component: Component, content: dict[str, str], facts: dict):
    install(component)
    changed = put_files(component, content)
    restart_if_changed(component, changed)
    # systemd reports clamd started even when it then fails on its configuration or signatures.
    server.shell(name="clamd answers after the restart", commands=["clamdscan --ping 30:1 >/dev/null"],
                 _if=any_changed(changed))
    fetch = facts["signature_fetch"]
    due = pending(fetch)
    server.shell(name="ClamAV's signatures fetched from their sources", commands=[fetch["command"]],
                 _if=lambda: due)
    freshclam = facts["freshclam"]
    systemd.service(name="freshclam keeps them current", service="clamav-freshclam",
                    running=freshclam, enabled=freshclam)


@deploy("SpamAssassin")
def spamassassin(component: Component, content: dict[str, str]):
    install(component)
    changed = put_files(component, content)
    restart_if_changed(component, changed)


@deploy("OpenDKIM")
def opendkim(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))


@deploy("OpenDMARC")
def opendmarc(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))
