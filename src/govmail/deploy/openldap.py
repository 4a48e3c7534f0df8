"""OpenLDAP: cn=config rebuilt from the rendered LDIF when it changes; tree, policies and service
accounts loaded over ldapi:// as root (peer credentials)."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from ..render import SERVICE_ACCOUNTS
from .common import any_changed, install, put_rendered

PACKAGES = ["slapd", "slapd-contrib", "ldap-utils"]
CONFIG_DIR = "/etc/ldap/govmail"
LDAPI = "-Y EXTERNAL -Q -H ldapi:///"

REBUILD_CONFIG = f"""set -e
rm -rf /etc/ldap/slapd.d.new && mkdir -p /etc/ldap/slapd.d.new
slapadd -n0 -F /etc/ldap/slapd.d.new -l {CONFIG_DIR}/slapd-config.ldif
chown -R openldap:openldap /etc/ldap/slapd.d.new
systemctl stop slapd
rm -rf /etc/ldap/slapd.d.old
if [ -d /etc/ldap/slapd.d ]; then mv /etc/ldap/slapd.d /etc/ldap/slapd.d.old; fi
mv /etc/ldap/slapd.d.new /etc/ldap/slapd.d
systemctl start slapd"""


def _put(files_content: dict[str, str], name: str):
    return put_rendered(files_content, f"{CONFIG_DIR}/{name}", mode="640", group="openldap")


def _tls_files(key: bytes, cert: bytes, ca: bytes) -> list:
    """slapd reads its own copy of the key as user openldap."""
    return [files.put(name=f"slapd TLS {name}", src=StringIO(data.decode()), dest=f"{CONFIG_DIR}/{name}",
                      user="root", group="openldap", mode=mode)
            for name, data, mode in (("tls.key", key, "640"), ("tls.crt", cert, "644"), ("tls-ca.crt", ca, "644"))]


@deploy("OpenLDAP directory")
def directory(files_content: dict[str, str], base_dn: str, tls_key: bytes, tls_cert: bytes, tls_ca: bytes):
    install("slapd", PACKAGES, debconf="slapd slapd/no_configuration boolean true\n")
    listeners = files.line(name="slapd listens on ldap, ldaps and ldapi", path="/etc/default/slapd",
                           line="^SLAPD_SERVICES=.*", replace='SLAPD_SERVICES="ldap:/// ldaps:/// ldapi:///"')

    changed = _tls_files(tls_key, tls_cert, tls_ca) + [listeners]
    changed += [_put(files_content, f) for f in ("govmail-schema.ldif", "slapd-config.ldif")]
    server.shell(name="Rebuild cn=config", commands=[REBUILD_CONFIG],
                 _if=any_changed(changed))
    systemd.service(name="slapd runs", service="slapd", running=True, enabled=True)

    base = _put(files_content, "base.ldif")
    server.shell(name="Add the organisation tree",
                 commands=[f"ldapadd -c {LDAPI} -f {CONFIG_DIR}/base.ldif || [ $? -eq 68 ]"], _if=base.did_change)
    policies = _put(files_content, "ppolicy.ldif")
    server.shell(name="Replace the password policies", _if=policies.did_change, commands=[
        f"ldapdelete -c {LDAPI} cn=users,ou=policies,{base_dn} cn=administrators,ou=policies,{base_dn} "
        f"cn=services,ou=policies,{base_dn} || true",
        f"ldapadd {LDAPI} -f {CONFIG_DIR}/ppolicy.ldif"])
    services = _put(files_content, "services.ldif")
    server.shell(name="Replace the service accounts", _if=services.did_change, commands=[
        f"ldapdelete -c {LDAPI} {' '.join(f'cn={name},ou=services,{base_dn}' for name in SERVICE_ACCOUNTS)} || true",
        f"ldapadd {LDAPI} -f {CONFIG_DIR}/services.ldif"])
