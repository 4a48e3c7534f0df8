"""The mail host's TLS certificate, Postfix and Dovecot; keepalived on the fronts."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server

from ..components import Component
from .common import any_changed, install, put_files, restart_if_changed, withdraw


@deploy("TLS certificate for the mail host")
def tls(component: Component, content: dict[str, str], facts: dict):
    files.directory(name="TLS directory", path=facts["tls_dir"], mode="755")
    return put_files(component, content)


@deploy("Postfix")
def postfix(component: Component, content: dict[str, str], tls_ops: list):
    install(component)
    changed = put_files(component, content)
    # Dovecot's LMTP and auth sockets live in Postfix's private directory.
    files.directory(name="Postfix private directory", path="/var/spool/postfix/private", user="postfix",
                    group="root", mode="700")
    restart_if_changed(component, changed + tls_ops)


@deploy("Dovecot")
def dovecot(component: Component, own: Component, content: dict[str, str], tls_ops: list, facts: dict):
    """Dovecot with the configuration every mail and store host shares, and this host's own part (`own`: the
    mail host's certificate and Postfix's sockets, or a store host's certificate and proxy listener)."""
    server.group(name="vmail group", group="vmail", gid=facts["vmail_uid"])
    server.user(name="vmail user: owns every mailbox", user="vmail", uid=facts["vmail_uid"], group="vmail",
                home=facts["mail_store"], shell="/usr/sbin/nologin", create_home=False)
    files.directory(name="Mail store", path=facts["mail_store"], user="vmail", group="vmail", mode="750")
    install(component)
    changed = put_files(component, content)
    server.shell(name="Sieve compiles govmail's rules", commands=[f"sievec {facts['sieve_before']}"],
                 _if=any_changed(changed))
    restart_if_changed(component, changed + put_files(own, content) + tls_ops)


@deploy("keepalived: the users' floating address")
def keepalived(component: Component, content: dict[str, str]):
    if not component.packages:      # no floating address: what an earlier deploy put there goes
        withdraw(component)
        return
    install(component)
    restart_if_changed(component, put_files(component, content))
