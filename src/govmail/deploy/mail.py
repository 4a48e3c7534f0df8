"""Postfix and Dovecot from the shared templates; TLS material from the operator's internal CA."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server

from ..render import TLS_DIR, VMAIL_UID, tls_paths
from .common import install, put_rendered, restart_if_changed

POSTFIX_PACKAGES = ["postfix", "postfix-ldap", "postfix-pcre"]
DOVECOT_PACKAGES = ["dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd", "dovecot-ldap", "dovecot-sieve",
                    "dovecot-managesieved"]


@deploy("TLS certificate for the mail host")
def tls(mail_host: str, key: bytes, chain: bytes):
    cert_path, key_path = tls_paths(mail_host)
    files.directory(name="TLS directory", path=TLS_DIR, mode="755")
    return [files.put(name=f"Certificate of {mail_host}", src=StringIO(chain.decode()), dest=cert_path, mode="644"),
            files.put(name=f"Key of {mail_host}", src=StringIO(key.decode()), dest=key_path, mode="600")]


@deploy("Postfix")
def postfix(files_content: dict[str, str], tls_ops: list):
    install("postfix", POSTFIX_PACKAGES, debconf="postfix postfix/main_mailer_type select No configuration\n")
    changed = [put_rendered(files_content, p) for p in ("/etc/postfix/main.cf", "/etc/postfix/master.cf",
                                                "/etc/postfix/mime_header_checks.pcre",
                                                "/etc/postfix/forward_allowed.pcre")]
    changed += [put_rendered(files_content, f"/etc/postfix/ldap/{m}.cf", mode="640", group="postfix")
                for m in ("mailboxes", "aliases", "senders")]
    # Dovecot's LMTP and auth sockets live in Postfix's private directory.
    files.directory(name="Postfix private directory", path="/var/spool/postfix/private", user="postfix",
                    group="root", mode="700")
    restart_if_changed(["postfix"], changed + tls_ops)


@deploy("Dovecot")
def dovecot(files_content: dict[str, str], tls_ops: list):
    server.group(name="vmail group", group="vmail", gid=VMAIL_UID)
    server.user(name="vmail user: owns every mailbox", user="vmail", uid=VMAIL_UID, group="vmail",
                home="/var/vmail", shell="/usr/sbin/nologin", create_home=False)
    files.directory(name="Mail store", path="/var/vmail", user="vmail", group="vmail", mode="750")
    install("dovecot", DOVECOT_PACKAGES)
    changed = [put_rendered(files_content, "/etc/dovecot/dovecot.conf", mode="640", group="dovecot"),
               put_rendered(files_content, "/etc/dovecot/conf.d/90-quota.conf"),
               put_rendered(files_content, "/usr/local/lib/govmail/quota-warning", mode="755")]
    restart_if_changed(["dovecot"], changed + tls_ops)
