"""Roundcube from Debian's packages behind nginx and php-fpm, with TLS, at https://mail.<domain>/."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from ..components import Component
from .common import install, put_files, restart_if_changed, withdraw


@deploy("nginx and php-fpm")
def nginx(component: Component, content: dict[str, str], tls_ops: list, facts: dict):
    install(component)
    site = [*put_files(component, content),
            files.link(name="nginx serves the webmail site", path="/etc/nginx/sites-enabled/govmail-webmail",
                       target=facts["nginx_site"]),
            files.link(name="nginx's default site is off", path="/etc/nginx/sites-enabled/default", present=False)]
    restart_if_changed(component, site + tls_ops)


@deploy("Roundcube webmail")
def roundcube(component: Component, content: dict[str, str]):
    install(component)
    restart_if_changed(component, put_files(component, content))


@deploy("Roundcube's shared database")
def database(component: Component, content: dict[str, str], facts: dict):
    """PostgreSQL on a front; then the primary's roles, database and schema, or this front's standby. Without
    fronts apart, a server an earlier deploy set up stops for good (its data stays) and its files go."""
    if not component.packages:
        if host.get_fact(File, path=facts["webmail_db_conf"]):
            server.shell(name="PostgreSQL stops for good: no front apart shares Roundcube's database",
                         commands=[facts["webmail_db_retire"]])
        withdraw(component)
        return
    install(component)
    restart_if_changed(component, put_files(component, content))
    server.shell(name="Roundcube's database: the primary, or a standby streaming from it",
                 commands=[facts["webmail_db_setup"]])
