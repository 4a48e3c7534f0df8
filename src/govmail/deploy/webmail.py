"""Roundcube from Debian's packages behind nginx and php-fpm, with TLS, at https://mail.<domain>/."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from ..render import MANAGED_FILES, PHP_VERSION, ROUNDCUBE_PLUGIN
from .common import install, put_rendered, restart_if_changed

# Installed first, so that Roundcube's PHP dependency is met by php-fpm and apt pulls no Apache.
RUNTIME_PACKAGES = ["nginx-light", f"php{PHP_VERSION}-fpm", f"php{PHP_VERSION}-ldap"]
ROUNDCUBE_PACKAGES = ["roundcube-core", "roundcube-sqlite3", "roundcube-plugins"]
ROUNDCUBE_DEBCONF = """roundcube-core roundcube/dbconfig-install boolean true
roundcube-core roundcube/database-type select sqlite3
roundcube-core roundcube/reconfigure-webserver multiselect
roundcube-core roundcube/restart-webserver boolean false
"""
SITE = "/etc/nginx/sites-available/govmail-webmail"
# Files holding directory passwords or the session key: readable by the web server's user only.
SECRET_FILES = ["/etc/roundcube/config.inc.php", "/etc/roundcube/plugins/password/config.inc.php"]


@deploy("Roundcube webmail")
def roundcube(files_content: dict[str, str], tls_ops: list):
    install("webmail runtime", RUNTIME_PACKAGES)
    install("roundcube", ROUNDCUBE_PACKAGES, debconf=ROUNDCUBE_DEBCONF)
    changed = [put_rendered(files_content, path, mode="640", group="www-data") for path in SECRET_FILES]
    changed += [put_rendered(files_content, path) for path in MANAGED_FILES.values()
                if path.startswith(ROUNDCUBE_PLUGIN + "/")]
    pool = [put_rendered(files_content, f"/etc/php/{PHP_VERSION}/fpm/pool.d/roundcube.conf")]
    restart_if_changed([f"php{PHP_VERSION}-fpm"], changed + pool)

    site = [put_rendered(files_content, SITE),
            files.link(name="nginx serves the webmail site", path="/etc/nginx/sites-enabled/govmail-webmail",
                       target=SITE),
            files.link(name="nginx's default site is off", path="/etc/nginx/sites-enabled/default", present=False)]
    restart_if_changed(["nginx"], site + tls_ops)
