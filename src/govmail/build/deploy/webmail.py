"""Roundcube from Debian's packages behind nginx and php-fpm, with TLS, at https://mail.<domain>/."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from ..components import Component
from .common import install, put_files, restart_if_changed


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
