"""OpenLDAP: cn=config rebuilt from the rendered LDIF when it changes; tree, policies and service
accounts loaded over ldapi:// as root (peer credentials), each by govmail-slapd when its LDIF changed."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

from ..components import Component
from .common import any_changed, install, put_files


@deploy("OpenLDAP directory")
def directory(component: Component, content: dict[str, str], facts: dict):
    install(component)
    listeners = files.line(name="slapd listens on ldap, ldaps and ldapi", path="/etc/default/slapd",
                           line="^SLAPD_SERVICES=.*", replace=facts["slapd_listeners"])
    put = dict(zip((f.path.rsplit("/", 1)[1] for f in component.files), put_files(component, content)))
    inputs_changed = any_changed([*(put[name] for name in facts["slapd_config_inputs"]), listeners])
    # A run that failed between putting the files and rebuilding left no configuration: rebuild then too.
    built = host.get_fact(File, path=facts["slapd_config"])
    server.shell(name="Rebuild cn=config", commands=[f"{facts['slapd_tool']} rebuild-config"],
                 _if=lambda: not built or inputs_changed())
    systemd.service(name="slapd runs", service="slapd", running=True, enabled=True)
    for ldif, step in facts["slapd_loads"].items():
        server.shell(name=f"govmail-slapd {step}", commands=[f"{facts['slapd_tool']} {step}"],
                     _if=put[ldif].did_change)
