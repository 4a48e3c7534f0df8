"""Render the shared templates from the settings model with plain Jinja2.

Both engines call `render_all`: pyinfra uploads its results, Ansible's plugin returns them, so the
bytes on a host do not depend on the engine. Helpers passed to templates are plain functions, not
engine-specific filters.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import jinja2

from . import dkim
from .naming import strip_accents
from .secretstore import Secrets, store_dir
from .settings import (EXPIRE_WARNING_SECONDS, FAILURE_DELAY_SECONDS, FAILURE_WINDOW_SECONDS, GRACE_LOGINS,
                       MESSAGE_HEADROOM, PASSWORD_HASH, PASSWORD_HISTORY, SMTP_CLIENT_LIMITS, PasswordPolicy, Settings)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

PHP_VERSION = "8.4"                  # Debian 13's PHP; the php-fpm pool directory is named after it
ROUNDCUBE_PLUGIN = "/var/lib/roundcube/plugins/govmail"
SLAPD_DIR = "/etc/ldap/govmail"                  # slapd's rendered LDIF and its copy of the TLS files
SLAPD_TOOL = "/usr/local/lib/govmail/govmail-slapd"   # the directory steps both engines run
SIEVE_BEFORE = "/etc/dovecot/sieve/govmail.sieve"   # govmail's Sieve rules, before each mailbox's own
CLAMAV_TOOL = "/usr/local/lib/govmail/clamav-signatures"   # fetches ClamAV's signatures, tells their age
SLAPD_STAMPS = "/var/lib/govmail/slapd"          # which content each of those steps last applied
CLAMAV_STAMPS = "/var/lib/govmail/clamav"        # which freshclam configuration's databases were fetched
# Where Prometheus's node exporter reads metrics files (Debian's prometheus-node-exporter textfile collector).
METRICS_DIR = "/var/lib/prometheus/node-exporter"
# ClamAV's official databases, as freshclam names them (ExcludeDatabase).
CLAMAV_OFFICIAL = ("main", "daily", "bytecode")
LDAPS_PORT = 636                                 # slapd's TLS listener (loopback, or the directory peers)
# What nginx serves besides Roundcube: the MTA-STS policy and mail programs' account settings.
WEB_FILES = "/var/www/govmail"
MTA_STS_POLICY = f"{WEB_FILES}/mta-sts.txt"
AUTOCONFIG = f"{WEB_FILES}/config-v1.1.xml"
# The ports mail programs use, all with TLS from the first byte but submission's 587 (STARTTLS).
CLIENT_PORTS = {"imaps": 993, "pop3s": 995, "submissions": 465, "submission": 587}
PHP_FPM_SOCKET = "/run/php/roundcube.sock"
# Failed webmail passwords, logged by govmail's Roundcube plugin the moment slapd refuses them; fail2ban
# watches it (Roundcube's own userlogins.log says it only after the delay, too late to stop the next guess).
ROUNDCUBE_LOGINS = "/var/log/roundcube/govmail-failed-logins.log"
# The mailboxes that may log in at all (Dovecot, and Roundcube's forced-change page): not switched off by
# the lifecycle. A lock from failed passwords (pwdAccountLockedTime) is slapd's to judge at the bind: it
# refuses while the lock lasts and clears it at the first good bind after, so that lock ends by itself.
MAY_LOG_IN = "(!(govmailLoginEnabled=FALSE))"
# Directory accounts services bind with to look mailboxes up (read only).
SERVICE_ACCOUNTS = ["postfix", "dovecot", "roundcube"]

# template (under templates/) -> path on the host
MANAGED_FILES = {
    "postfix/main.cf.j2": "/etc/postfix/main.cf",
    "postfix/master.cf.j2": "/etc/postfix/master.cf",
    "postfix/ldap/mailboxes.cf.j2": "/etc/postfix/ldap/mailboxes.cf",
    "postfix/ldap/aliases.cf.j2": "/etc/postfix/ldap/aliases.cf",
    "postfix/ldap/senders.cf.j2": "/etc/postfix/ldap/senders.cf",
    "postfix/forward_allowed.pcre.j2": "/etc/postfix/forward_allowed.pcre",
    "postfix/own_domains.pcre.j2": "/etc/postfix/own_domains.pcre",
    "postfix/relays.cidr.j2": "/etc/postfix/relays.cidr",
    "postfix/postscreen_access.cidr.j2": "/etc/postfix/postscreen_access.cidr",
    "postfix/from-milter.py.j2": "/usr/local/lib/govmail/from-milter",
    "postfix/govmail-from-milter.service.j2": "/etc/systemd/system/govmail-from-milter.service",
    "postfix/attachment-milter.py.j2": "/usr/local/lib/govmail/attachment-milter",
    "postfix/govmail-attachment-milter.service.j2": "/etc/systemd/system/govmail-attachment-milter.service",
    "ratelimit/policyd-rate-limit.yaml.j2": "/etc/policyd-rate-limit.yaml",
    "firewall/nftables.conf.j2": "/etc/govmail/nftables.conf",
    "firewall/govmail-firewall.service.j2": "/etc/systemd/system/govmail-firewall.service",
    "firewall/jail.conf.j2": "/etc/fail2ban/jail.d/govmail.conf",
    "firewall/dovecot-filter.conf.j2": "/etc/fail2ban/filter.d/govmail-dovecot.conf",
    "firewall/roundcube-logins.tmpfiles.j2": "/etc/tmpfiles.d/govmail-roundcube-logins.conf",
    "firewall/fail2ban.service.conf.j2": "/etc/systemd/system/fail2ban.service.d/govmail.conf",
    "dovecot/dovecot.conf.j2": "/etc/dovecot/dovecot.conf",
    "dovecot/conf.d/90-quota.conf.j2": "/etc/dovecot/conf.d/90-quota.conf",
    "dovecot/quota-warning.j2": "/usr/local/lib/govmail/quota-warning",
    "dovecot/sieve/govmail.sieve.j2": SIEVE_BEFORE,
    "slapd/slapd-config.ldif.j2": f"{SLAPD_DIR}/slapd-config.ldif",
    "slapd/govmail-schema.ldif.j2": f"{SLAPD_DIR}/govmail-schema.ldif",
    "slapd/base.ldif.j2": f"{SLAPD_DIR}/base.ldif",
    "slapd/ppolicy.ldif.j2": f"{SLAPD_DIR}/ppolicy.ldif",
    "slapd/services.ldif.j2": f"{SLAPD_DIR}/services.ldif",
    "slapd/govmail-slapd.j2": SLAPD_TOOL,
    "roundcube/config.inc.php.j2": "/etc/roundcube/config.inc.php",
    "roundcube/password.config.inc.php.j2": "/etc/roundcube/plugins/password/config.inc.php",
    "roundcube/php-fpm-pool.conf.j2": f"/etc/php/{PHP_VERSION}/fpm/pool.d/roundcube.conf",
    "roundcube/govmail-plugin/govmail.php.j2": f"{ROUNDCUBE_PLUGIN}/govmail.php",
    "roundcube/govmail-plugin/localization/vi_VN.inc.j2": f"{ROUNDCUBE_PLUGIN}/localization/vi_VN.inc",
    "roundcube/govmail-plugin/localization/en_US.inc.j2": f"{ROUNDCUBE_PLUGIN}/localization/en_US.inc",
    "roundcube/govmail-plugin/skins/elastic/templates/change.html.j2":
        f"{ROUNDCUBE_PLUGIN}/skins/elastic/templates/change.html",
    "nginx/webmail.conf.j2": "/etc/nginx/sites-available/govmail-webmail",
    "nginx/autoconfig.xml.j2": AUTOCONFIG,
    "clamav/clamd.conf.j2": "/etc/clamav/clamd.conf",
    "clamav/clamav-milter.conf.j2": "/etc/clamav/clamav-milter.conf",
    "clamav/clamav-milter.service.j2": "/etc/systemd/system/clamav-milter.service",
    "clamav/freshclam.conf.j2": "/etc/clamav/freshclam.conf",
    "clamav/govmail.ndb.j2": "/var/lib/clamav/govmail.ndb",
    "clamav/clamav-signatures.py.j2": CLAMAV_TOOL,
    "clamav/govmail-clamav-status.service.j2": "/etc/systemd/system/govmail-clamav-status.service",
    "clamav/govmail-clamav-status.timer.j2": "/etc/systemd/system/govmail-clamav-status.timer",
    "clamav/clamav-daemon.service.conf.j2": "/etc/systemd/system/clamav-daemon.service.d/govmail.conf",
    "spamassassin/local.cf.j2": "/etc/spamassassin/local.cf",
    "spamassassin/spamd.j2": "/etc/default/spamd",
    "spamassassin/spamass-milter.service.j2": "/etc/systemd/system/spamass-milter.service",
    "opendkim/opendkim.conf.j2": "/etc/opendkim.conf",
    "opendkim/key.table.j2": "/etc/opendkim/key.table",
    "opendkim/signing.table.j2": "/etc/opendkim/signing.table",
    "opendmarc/opendmarc.conf.j2": "/etc/opendmarc.conf",
    "opendmarc/ignore.hosts.j2": "/etc/opendmarc/ignore.hosts",
    "postfix/policyd-spf.conf.j2": "/etc/postfix-policyd-spf-python/policyd-spf.conf",
}
# Extensions of Windows programs (PE files). Where the regulation blocks any of them, ClamAV refuses every
# PE file whatever its name (govmail.ndb), so that a program renamed .pdf is caught too.
WINDOWS_PROGRAMS = {"exe", "dll", "com", "scr", "cpl", "sys", "ocx", "net"}
# The private DKIM key of the active selector, in Debian's directory for DKIM keys.
DKIM_KEY = "/etc/dkimkeys/govmail.private"

# govmail's LDAP schema arc: 2.25.<a UUID> (ITU-T X.667), unique without registering an enterprise number.
SCHEMA_OID = "2.25.176330121566090107503874147743798950394"

# Loopback ports the milters listen on (Postfix's smtpd runs chrooted, so no unix sockets).
PORTS = {"clamav_milter": 7357, "spamass_milter": 7358, "from_milter": 7359, "opendkim": 7360, "opendmarc": 7361,
         "attachment_milter": 7362, "sieve_forward": 10026}

# The EICAR anti-virus test string (harmless by design): govmail's own ClamAV signature detects it, so
# clamd starts and the whole chain can be proven on a host that has no signature mirror yet.
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

# Mozilla's "intermediate" TLS 1.2 ciphers (TLS 1.3's are OpenSSL's defaults): forward secrecy and AEAD only.
TLS_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
               "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
               "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")

VMAIL_UID = 5000   # owner of every mailbox on disk; no mail user has a system account
TLS_DIR = "/etc/govmail/tls"


def tls_paths(mail_host: str) -> tuple[str, str]:
    """(certificate chain, key) of the mail host, as the services read them."""
    return f"{TLS_DIR}/{mail_host}.crt", f"{TLS_DIR}/{mail_host}.key"

CLASS_NAMES_VI = {"upper": "chữ hoa", "lower": "chữ thường", "digit": "chữ số", "special": "ký tự đặc biệt"}


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def cite(cited) -> str:
    return cited.source if cited.value is not None else f"project default: {cited.note or 'not set'}"


def php_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bytes_text(value: int | None) -> str:
    if value is None:
        return "unlimited"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} bytes"


def password_rule_vi(policy: PasswordPolicy) -> str:
    classes = ", ".join(CLASS_NAMES_VI[c] for c in policy.classes)
    text = f"Mật khẩu phải có ít nhất {policy.min_length} ký tự, gồm {classes}"
    if "special" in policy.classes and len(policy.specials) < 20:
        text += f" ({' '.join(policy.specials)})"
    return text + "."


def _managed(settings: Settings):
    def managed(comment: str, keys: list[str]) -> str:
        p = settings.profile
        lines = ["Managed by govmail: do not edit, changes are overwritten on the next deploy.",
                 f"Profile: {p.province} ({p.decision.number}); values from: {', '.join(keys)}."]
        return "\n".join(f"{comment} {line}" for line in lines)
    return managed


def default_secrets(settings: Settings) -> Secrets:
    return Secrets(store_dir(settings.inventory or settings.province))


def context(settings: Settings, secrets: Secrets) -> dict:
    env = environment()
    ppm = env.get_template("slapd/ppm.conf.j2")
    users = settings.policies["users"]
    return {
        "s": settings,
        "secrets": secrets,
        "oid": SCHEMA_OID,
        "tls_cert": tls_paths(settings.mail_host)[0],
        "tls_key": tls_paths(settings.mail_host)[1],
        "vmail_uid": VMAIL_UID,
        "slapd_dir": SLAPD_DIR,
        "slapd_stamps": SLAPD_STAMPS,
        "ports": PORTS,
        "ldaps_port": LDAPS_PORT,
        "php_fpm_socket": PHP_FPM_SOCKET,
        "service_accounts": SERVICE_ACCOUNTS,
        "may_log_in": MAY_LOG_IN,
        "eicar_hex": EICAR.encode().hex(),
        "profile": settings.profile,
        "managed": _managed(settings),
        "cite": cite,
        "ascii": strip_accents,       # SMTP replies are ASCII
        "php": php_string,
        "bytes_text": bytes_text,
        "b64": lambda text: base64.b64encode(text.encode()).decode(),
        "ppm_arg": lambda p: base64.b64encode(ppm.render(p=p).encode()).decode(),
        "password_rule_vi": password_rule_vi(users),
        "attachment_mib": round(settings.attachment_max_bytes / 2**20, 1) if settings.attachment_max_bytes % 2**20
        else settings.attachment_max_bytes // 2**20,
        "headroom": MESSAGE_HEADROOM,
        "default_quota_bytes": settings.quotas.get("personal", next(iter(settings.quotas.values()))).bytes or 0,
        "expire_warning": EXPIRE_WARNING_SECONDS,
        "grace_logins": GRACE_LOGINS,
        "history": PASSWORD_HISTORY,
        "failure_window": FAILURE_WINDOW_SECONDS,
        "failure_delay": FAILURE_DELAY_SECONDS,
        "tls_ciphers": TLS_CIPHERS,
        "password_hash": PASSWORD_HASH,
        "ban": settings.defences.ban,
        "roundcube_logins": ROUNDCUBE_LOGINS,
        "limits": SMTP_CLIENT_LIMITS,
        "dkim": dkim.active(secrets, settings.domain),
        "dkim_key_path": DKIM_KEY,
        "official_databases": list(CLAMAV_OFFICIAL),
        "clamav_stamps": CLAMAV_STAMPS,
        "clamav_tool": CLAMAV_TOOL,
        "sieve_before": SIEVE_BEFORE,
        "mta_sts_policy": MTA_STS_POLICY,
        "autoconfig": AUTOCONFIG,
        "client_ports": CLIENT_PORTS,
        "metrics_dir": METRICS_DIR,
        "blocks_programs": bool(set(settings.blocked_extensions) & WINDOWS_PROGRAMS),
    }


def render_all(settings: Settings, secrets: Secrets | None = None) -> dict[str, str]:
    """Every managed file's content, keyed by its path on the host."""
    env, ctx = environment(), context(settings, secrets or default_secrets(settings))
    return {dest: env.get_template(tpl).render(ctx) for tpl, dest in MANAGED_FILES.items()}


def write_tree(settings: Settings, out: Path, secrets: Secrets | None = None) -> list[Path]:
    """Write the rendered files under `out`, mirroring their host paths. Touches no host. Several hold
    passwords, so every file is the writer's alone (0600, directories 0700)."""
    written = []
    for dest, content in render_all(settings, secrets).items():
        target = out / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        written.append(target)
    return written
