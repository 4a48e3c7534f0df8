"""OpenLDAP: cn=config rebuilt from the rendered LDIF; tree, policies and service accounts loaded over
ldapi:// as root (peer credentials); each by a govmail-slapd step that runs until it has applied this
content (its stamp on the host)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

from ..components import Component
from .common import install, pending, put_files, restart_if_changed


@deploy("OpenLDAP directory")
def directory(component: Component, content: dict[str, str], facts: dict):
    configured(component, content, facts)
    for step, load in facts["slapd_loads"].items():
        due = pending(load)
        server.shell(name=f"govmail-slapd {step}", commands=[load["command"]], _if=lambda due=due: due)


@deploy("Another provider of the directory")
def provider(component: Component, firewall: Component, content: dict[str, str], facts: dict):
    """The mail host's slapd configuration, without the tree: the tree comes by replication."""
    install(firewall)
    restart_if_changed(firewall, put_files(firewall, content))
    configured(component, content, facts)


def configured(component: Component, content: dict[str, str], facts: dict):
    """slapd installed, configured from the rendered LDIF, running."""
    install(component)
    listeners = files.line(name="slapd listens on loopback and ldapi only", path="/etc/default/slapd",
                           line="^SLAPD_SERVICES=.*", replace=facts["slapd_listeners"])
    put_files(component, content)
    rebuild = facts["slapd_rebuild"]
    rebuild_due = pending(rebuild) or not host.get_fact(File, path=facts["slapd_config"])
    server.shell(name="Rebuild cn=config", commands=[rebuild["command"]],
                 _if=lambda: rebuild_due or listeners.did_change())
    systemd.service(name="slapd runs", service="slapd", running=True, enabled=True)
