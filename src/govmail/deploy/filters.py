"""ClamAV and SpamAssassin, each behind its milter. Nothing here needs the internet: signatures come from
govmail's own file or the operator's mirror, rules from the package."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server, systemd

from ..components import Component
from .common import any_changed, install, put_files, restart_if_changed

# The daily sa-update would try the internet; rules come from the package.
SA_UPDATE_TIMER = "spamassassin-maintenance.timer"


@deploy("ClamAV")
def clamav(component: Component, content: dict[str, str], facts: dict):
    install(component)
    changed = put_files(component, content)
    restart_if_changed(component, changed)
    # systemd reports clamd started even when it then fails on its configuration or signatures.
    server.shell(name="clamd answers after the restart", commands=["clamdscan --ping 30:1 >/dev/null"],
                 _if=any_changed(changed))
    mirror = facts["clamav_mirror"]
    systemd.service(name="freshclam runs only with a mirror", service="clamav-freshclam",
                    running=mirror, enabled=mirror)


@deploy("SpamAssassin")
def spamassassin(component: Component, content: dict[str, str]):
    install(component)
    changed = put_files(component, content)
    systemd.service(name="No rule updates from the internet", service=SA_UPDATE_TIMER, running=False,
                    enabled=False)
    restart_if_changed(component, changed)


@deploy("OpenDKIM")
def opendkim(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))


@deploy("OpenDMARC")
def opendmarc(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))
