"""Render the shared templates from the settings model with plain Jinja2.

Both engines call `render_all`: pyinfra uploads its results, Ansible's plugin returns them, so the
bytes on a host do not depend on the engine. Helpers passed to templates are plain functions, not
engine-specific filters.
"""

from __future__ import annotations

import base64
import importlib.resources
import ipaddress
import os
from pathlib import Path

import jinja2

from govmail.build import dkim
from govmail.build import layout
from govmail.build.layout import (AUTOCONFIG, AUTODISCOVER, BACKUP_REST_PORT, CLAMAV_OFFICIAL, CLAMAV_STAMPS, CLAMAV_TOOL, CLIENT_PORTS, DKIM_KEY, LDAPS_PORT,
                     METRICS_DIR, MONITOR_PORTS, MTA_STS_POLICY, PHP_FPM_SOCKET, PORTS, ROUNDCUBE_LOGINS, SIEVE_BEFORE, SLAPD_DIR,
                     SLAPD_STAMPS, STORE_CERT, STORE_KEY, STORE_PORTS, VMAIL_UID, tls_paths)
from govmail.build.secretstore import Secrets, store_dir
from govmail.model.naming import strip_accents
from govmail.model import settings as settings_mod
from govmail.model.settings import Settings

# Shipped inside the package, so that a wheel renders as a checkout does (a checkout links templates/ here).
TEMPLATES_DIR = Path(str(importlib.resources.files("govmail") / "templates"))

# The mailboxes that may log in at all (Dovecot, and Roundcube's forced-change page): not switched off by
# the lifecycle. A lock from failed passwords (pwdAccountLockedTime) is slapd's to judge at the bind: it
# refuses while the lock lasts and clears it at the first good bind after, so that lock ends by itself.
MAY_LOG_IN = "(!(govmailLoginEnabled=FALSE))"

# Directory accounts services bind with to look mailboxes up (read only).
SERVICE_ACCOUNTS = ["postfix", "dovecot", "roundcube"]

# Extensions of Windows programs (PE files). Where the regulation blocks any of them, ClamAV refuses every
# PE file whatever its name (govmail.ndb), so that a program renamed .pdf is caught too.
WINDOWS_PROGRAMS = {"exe", "dll", "com", "scr", "cpl", "sys", "ocx", "net"}

# govmail's LDAP schema arc: 2.25.<a UUID> (ITU-T X.667), unique without registering an enterprise number.
SCHEMA_OID = "2.25.176330121566090107503874147743798950394"


# The EICAR anti-virus test string (harmless by design): govmail's own ClamAV signature detects it, so
# clamd starts and the whole chain can be proven on a host that has no signature mirror yet.
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

# Mozilla's "intermediate" TLS 1.2 ciphers (TLS 1.3's are OpenSSL's defaults): forward secrecy and AEAD only.
TLS_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
               "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
               "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")




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


def _managed(settings: Settings):
    def managed(comment: str, keys: list[str]) -> str:
        p = settings.profile
        lines = ["Managed by govmail: do not edit, changes are overwritten on the next deploy.",
                 f"Profile: {p.province} ({p.decision.number}); values from: {', '.join(keys)}."]
        return "\n".join(f"{comment} {line}" for line in lines)
    return managed


def default_secrets(settings: Settings) -> Secrets:
    return Secrets(store_dir(settings.inventory or settings.province))


def address_book_filter(s: Settings) -> str:
    """The mailboxes the province's address book lists, in webmail and in mail programs over LDAPS: never
    revoked ones nor the operators' system mailbox; locked ones only where a locked mailbox still receives."""
    hidden = ["revoked", "system"] + ([] if s.locked_still_receives else ["locked"])
    return "(&(objectClass=govmailMailbox)(mail=*)" + "".join(f"(!(govmailAccountStatus={h}))" for h in hidden) + ")"


def context(settings: Settings, secrets: Secrets) -> dict:
    env = environment()
    ppm = env.get_template("slapd/ppm.conf.j2")
    rules = settings.rules
    stores = store_hosts(settings)
    exporters_listen = "0.0.0.0" if settings.monitor_address else "127.0.0.1"
    return {
        "s": settings,
        "secrets": secrets,
        "oid": SCHEMA_OID,
        "tls_cert": tls_paths(settings.mail_host)[0],
        "tls_key": tls_paths(settings.mail_host)[1],
        # Where the exporters listen and where the monitoring server reaches the mail host: loopback on a
        # single-node site; with a `monitor` host, every address (the firewall admits that host alone) and
        # the mail host's name. (An MX host's Postfix exporter answers the monitoring server: host_context.)
        "exporters_listen": exporters_listen,
        "postfix_exporter_listen": exporters_listen,
        "mail_host_from_monitor": mail_host_from_monitor(settings, stores),
        "monitored_ports": [MONITOR_PORTS["node"], MONITOR_PORTS["postfix"], MONITOR_PORTS["dovecot"], PORTS["alerts"]],
        "vmail_uid": VMAIL_UID,
        "slapd_dir": SLAPD_DIR,
        "slapd_stamps": SLAPD_STAMPS,
        "ports": PORTS,
        "ldaps_port": LDAPS_PORT,
        "php_fpm_socket": PHP_FPM_SOCKET,
        "service_accounts": SERVICE_ACCOUNTS,
        "replicator_dn": f"cn=replicator,ou=services,{settings.base_dn}",
        "ldaps_peers": ldaps_peers(settings),
        "may_log_in": MAY_LOG_IN,
        **store_addresses(settings, stores),
        "store_ring": store_ring(settings, stores),
        "backup_clients": backup_clients(settings),
        # The mail host's firewall admits them to its LMTP and quota-status listeners, each store's to its quota-status.
        "mx_addresses": list(settings.mx_addresses.values()),
        # Where an MX host apart hands its mail over (LMTP with STARTTLS): the mail host, by its inventory name
        # (the internal certificate's), whose Dovecot proxies each delivery to the mailbox's store.
        "lmtp_host": settings.store_names[0],
        "store_ports": STORE_PORTS,
        "store_tls": (STORE_CERT, STORE_KEY),
        # The public certificate (mail.<domain>'s), which a front host apart presents as the mail host does.
        "public_tls": tls_paths(settings.mail_host),
        "address_book_filter": address_book_filter(settings),
        "eicar_hex": EICAR.encode().hex(),
        "profile": settings.profile,
        "managed": _managed(settings),
        "cite": cite,
        "ascii": strip_accents,       # SMTP replies are ASCII
        "php": php_string,
        "bytes_text": bytes_text,
        "b64": lambda text: base64.b64encode(text.encode()).decode(),
        "ppm_arg": lambda p: base64.b64encode(ppm.render(p=p).encode()).decode(),
        "password_rule_vi": settings.policies["users"].rule_vi,
        "attachment_mib": settings.attachment_mib,
        "headroom": rules.message_headroom,
        "default_quota_bytes": settings.default_quota_bytes,
        "expire_warning": rules.expire_warning_seconds,
        "grace_logins": rules.grace_logins,
        "history": rules.password_history,
        "failure_window": rules.failure_window_seconds,
        "failure_delay": rules.failure_delay_seconds,
        "tls_ciphers": TLS_CIPHERS,
        "password_hash": rules.password_hash,
        "ban": settings.defences.ban,
        "roundcube_logins": ROUNDCUBE_LOGINS,
        "limits": rules.smtp_client_limits,
        "dkim": dkim.active(secrets, settings.domain),
        "dkim_key_path": DKIM_KEY,
        "official_databases": list(CLAMAV_OFFICIAL),
        "clamav_stamps": CLAMAV_STAMPS,
        "clamav_tool": CLAMAV_TOOL,
        "sieve_before": SIEVE_BEFORE,
        "mta_sts_policy": MTA_STS_POLICY,
        "autoconfig": AUTOCONFIG,
        "autodiscover": AUTODISCOVER,
        "client_ports": CLIENT_PORTS,
        "metrics_dir": METRICS_DIR,
        "blocks_programs": bool(set(settings.blocked_extensions) & WINDOWS_PROGRAMS),
        "layout": layout,
        "probes": probes(settings),
        "watched_units_pattern": watched_units_pattern(settings),
        "directory_scraper": directory_scraper(settings),
        "bracketed": postfix_host,          # an IP address before a port: IPv6 in brackets
    }


def probes(s: Settings) -> dict[str, list[str]]:
    """The blackbox exporter's targets, by module: every listener the profile opens to mail programs."""
    host = s.mail_host
    found = {"smtp_starttls": [f"{host}:25", f"{host}:{CLIENT_PORTS['submission']}"],
             "smtps": [f"{host}:{CLIENT_PORTS['submissions']}"], "imaps": [f"{host}:{CLIENT_PORTS['imaps']}"]}
    if "pop3" in s.protocols:
        found["pop3s"] = [f"{host}:{CLIENT_PORTS['pop3s']}"]
    found["https"] = [f"https://{host}/"]
    if s.backup:
        found["backup_rest"] = [f"https://{s.backup.target}:{BACKUP_REST_PORT}/"]
    return found


def mail_host_from_monitor(s: Settings, stores: dict[str, str]) -> str:
    """Where the monitoring server reaches the mail host: loopback when it is the mail host; its name; its own
    address where mail.<domain> is a floating address, which another front may hold."""
    if not s.monitor_address:
        return "127.0.0.1"
    return stores[s.stores[0]] if s.floating else s.mail_host


def store_addresses(s: Settings, stores: dict[str, str]) -> dict:
    """With stores apart (`stores`: store_hosts), the mail host's IP address: its Dovecot counts logins over
    loopback (webmail, Postfix's LMTP socket) as its own (auth_proxy_self), and the stores admit it alone; every
    store's, the mail host's first; and where Postfix's sieve-forward listener answers: loopback, and with stores
    apart the mail host's address for the other stores' Sieve (redirects, vacation replies)."""
    loopback = {"address": "127.0.0.1", "clients": []}
    if not s.stores_apart:
        return {"mail_address": None, "store_addresses": [], "sieve_forward_listeners": [loopback]}
    mail, *others = stores.values()
    return {"mail_address": mail, "store_addresses": list(stores.values()),
            "sieve_forward_listeners": [loopback, {"address": postfix_host(mail),
                                                   "clients": [postfix_host(a) for a in others]}]}


def store_hosts(s: Settings) -> dict[str, str]:
    """With stores apart, each store's IP address by name, in the inventory's order: the mail host's (hosts.yml's
    ansible_host; a name is refused), then the others' (directory providers, by address)."""
    if not s.stores_apart:
        return {}
    mail = settings_mod.host_address(s.inventory, "mail", "each store's firewall")
    return {s.stores[0]: mail, **s.provider_addresses(s.stores_apart)}


def backup_client(s: Settings, host: str | None) -> str:
    """The name a host backs up under (its repository's at the backup host, its login's there): a store apart
    from the mail host its own hosts.yml name, the mail host (and every other host) the mail host's name."""
    return host if host in s.stores_apart else s.mail_host


def backup_clients(s: Settings) -> dict[str, str | None]:
    """Every host that backs up, by the name it backs up under, with the address the backup host's firewall
    admits it by: the mail host (None without a hosts.yml), then each store apart."""
    if not s.backup:
        return {}
    stores = store_hosts(s)
    return {s.mail_host: s.backup.client_address, **{store: stores[store] for store in s.stores_apart}}


def store_ring(s: Settings, stores: dict[str, str]) -> list[dict]:
    """Each store by name and IP address (store_hosts) with its partner (Settings.store_partners): the copy job
    finds its own store by the address it holds."""
    return [{"name": store, "address": stores[store], "partner": partner}
            for store, partner in s.store_partners.items()]


def postfix_host(address: str) -> str:
    """An IP address as master.cf and mynetworks take it: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


def ldaps_peers(s: Settings) -> list[str]:
    """Who may reach slapd's ldaps:// listener over the network: the inventory's directory peers and every
    directory provider's host."""
    peers = [ipaddress.ip_network(n) for n in s.defences.directory_peers]
    providers = [p.address for p in s.directory_providers
                 if p.address and not any(ipaddress.ip_address(p.address) in net for net in peers)]
    return [str(n) for n in peers] + providers


def watched_units_pattern(s: Settings) -> dict[str, str]:
    """The node exporters' unit filters: the mail host's, and the other directory providers'. Unescaped dots
    (they match themselves too): a backslash would have to survive both systemd's EnvironmentFile and the
    shell-like splitting of $ARGS."""
    from govmail.build.components import directory_host_units, watched_units  # components renders through here
    found = {"mail": "(" + "|".join(watched_units(s)) + ")"}
    if s.directory_providers:
        found["directory"] = "(" + "|".join(directory_host_units(s)) + ")"
    return found


def directory_scraper(s: Settings) -> str | None:
    """Where Prometheus scrapes the other directory providers from: the monitor host, else the mail host."""
    if not s.directory_providers:
        return None
    return s.monitor_address or s.directory_providers[0].address


def render_all(settings: Settings, secrets: Secrets | None = None, host: str | None = None) -> dict[str, str]:
    """Every managed file's content, keyed by its path on the host: on the mail host, or on the host of this
    hosts.yml name (the few files whose content differs on a store host: its backups')."""
    env = environment()
    ctx = {**context(settings, secrets or default_secrets(settings)), **host_context(settings, host)}
    return {f.path: env.get_template(f.template).render(ctx) for f in deployment_files(settings, host) if f.template}


def host_context(s: Settings, host: str | None) -> dict:
    """What differs on the host of this hosts.yml name: the name its backups go under; on an MX host apart from
    the mail host, its own name and certificate (Postfix's greeting, its MX record) and its exporter's address."""
    mx_here = host in s.mx_hosts
    found = {"backup_client": backup_client(s, host), "mx_here": mx_here, **front_context(s, host)}
    if mx_here:
        # Its Postfix exporter answers the monitoring server, on the other side of its firewall.
        cert, key = tls_paths(host)
        found |= {"this_host": host, "tls_cert": cert, "tls_key": key, "postfix_exporter_listen": "0.0.0.0"}
    return found


def front_context(s: Settings, host: str | None) -> dict:
    """With a floating address: every front's address by name (the mail host first, by its hosts.yml name),
    the front this is (a front apart, else the mail host) and its VRRP priority (the mail host's highest)."""
    if not s.floating:
        return {"front_here": False}
    ring = {s.stores[0]: store_hosts(s)[s.stores[0]], **s.front_addresses}
    this = host if host in s.front_addresses else s.stores[0]
    return {"front_here": host in s.front_addresses, "front_ring": ring, "this_front": this,
            "front_peers": [address for name, address in ring.items() if name != this],
            "front_priority": 200 - 10 * list(ring).index(this)}


def deployment_files(s: Settings, host: str | None = None) -> tuple[layout.HostFile, ...]:
    """The file table for this deployment (its mail host's name, backups or not, a monitor host or not,
    directory, store and MX hosts or not), as the host of this hosts.yml name gets it: an MX host apart has a
    certificate of its own."""
    return layout.host_files(s.mail_host, s.backup is not None, s.monitor_address is not None,
                             bool(s.directory_providers), bool(s.stores_apart), bool(s.mx_hosts),
                             host if host in s.mx_hosts else None, s.floating is not None,
                             host in s.front_addresses)



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
