"""What each part of the system is on a host: the Debian packages with their debconf answers, the files
govmail puts there (mode and group) and the services that read them. Both engines deploy from this one
list: pyinfra through deploy/*.py, Ansible's roles through the govmail_component lookup."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from govmail.build import dkim
from govmail.build import dnsrecords
from govmail.build import render
from govmail.build import tls
from govmail.build.layout import (BACKUP_CONF, CLAMAV_LOGS, BACKUP_DUMPS, BACKUP_REST_CONF, BACKUP_ROOT, BACKUP_SERVER_CONF,
                     BACKUP_USER, CLAMAV_STAMPS, RETIRED_BACKUP_DIR, RETIRED_BACKUP_UNIT,
                     CLAMAV_TOOL, DEPLOY_MANIFEST, DEPLOY_TOOL, DKIM_KEY, FRESHCLAM_CONF, MTA_STS_POLICY, NGINX_SITE,
                     PHP_VERSION, PROBE_CA, PROBE_INTERNAL_CA, SIEVE_BEFORE, SLAPD_CONFIG, SLAPD_DIR, SLAPD_STAMPS, SLAPD_TOOL, STORE_CERT, STORE_KEY, TLS_DIR, UNIT_DIR, VMAIL, VMAIL_UID, WEBMAIL_DB_DIR, WEBMAIL_DB_TOOL, PG_CONF, PG_UNIT, HostFile,
                     tls_paths, withdrawn_files)
from govmail.model.settings import Settings

# govmail-slapd's steps in order, each with the files (in SLAPD_DIR) whose content it applies: cn=config
# from what slapd reads at start, then the LDIF loaded into the running slapd.
SLAPD_STEPS = {"rebuild-config": ("tls.key", "tls.crt", "tls-ca.crt", "govmail-schema.ldif", "slapd-config.ldif"),
               "add-tree": ("base.ldif",), "replace-policies": ("ppolicy.ldif",),
               "replace-services": ("services.ldif",)}


@dataclass(frozen=True)
class Component:
    name: str
    packages: tuple[str, ...] = ()
    debconf: str = ""                  # debconf-set-selections lines, loaded before the packages install
    services: tuple[str, ...] = ()     # restarted when any of the files change; running and enabled
    unit_files: bool = False           # its files include systemd units: reload systemd, re-enable
    files: tuple[HostFile, ...] = ()   # from the file table (layout.FILES)
    role: str = "mail"                 # the hosts that get it: the mail host, the backup host, the monitor host
    absent: tuple[str, ...] = ()       # files a package's scripts made that govmail's own files replace
    kept_off: tuple[str, ...] = ()     # units a package enables that govmail keeps stopped and disabled
    withdrawn: tuple[str, ...] = ()    # govmail's files of a configuration the inventory no longer has: removed,
                                       # the units among them stopped and disabled first (layout.withdrawn_files)
    withdrawn_units: tuple[str, ...] = ()


# On the mail host: the node exporter and govmail's own metrics (the node exporter's systemd collector asks
# systemd over D-Bus; Postfix's exporter is in Postfix's component, on every MX host). On the monitoring server
# (the mail host itself unless the inventory has a `monitor` host): Prometheus, Alertmanager and the prober of
# the public listeners.
MONITORING_PACKAGES = ("prometheus-node-exporter", "dbus")
MONITORING_SERVICES = ("prometheus-node-exporter", "govmail-metrics.timer")
MONITORING_SERVER_PACKAGES = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
MONITORING_SERVER_SERVICES = MONITORING_SERVER_PACKAGES

DOVECOT_PACKAGES = ("dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd", "dovecot-ldap", "dovecot-sieve",
                    "dovecot-managesieved")
OPENLDAP = Component("openldap", ("slapd", "slapd-contrib", "ldap-utils"),
                     "slapd slapd/no_configuration boolean true\n", ("slapd",))


def components(s: Settings, host: str | None = None) -> dict[str, Component]:
    """In deploy order, each with its files from the table (as the host of this hosts.yml name gets them: an
    MX host apart has its own certificate). The mail host's certificate comes before the services that read it."""
    parts = [
        OPENLDAP,
        Component("clamav", ("clamav-daemon", "clamav-milter", "clamav-freshclam", "clamdscan"),
                  "clamav-freshclam clamav-freshclam/autoupdate_freshclam select manual\n",
                  ("clamav-daemon", "clamav-milter", "govmail-clamav-status.timer"), unit_files=True,
                  # the boot-time freshclam run races the freshclam daemon for its lock and fails the boot's
                  # units; govmail's deploy fetches the signatures and the daemon keeps them current
                  kept_off=("clamav-freshclam-once.timer", "clamav-freshclam-once.service")),
        # The daily sa-update would try the internet; rules come from the package.
        Component("spamassassin", ("spamd", "spamc", "spamass-milter"), "", ("spamd", "spamass-milter"),
                  unit_files=True, kept_off=("spamassassin-maintenance.timer",)),
        Component("tls"),
        # Before Postfix, whose milters include it. The DKIM key is readable by the opendkim group alone.
        Component("opendkim", ("opendkim",), "", ("opendkim",)),
        # policyd-rate-limit is the submission services' sending limit: it goes and restarts with Postfix; so
        # does the exporter of its queues and log, on every host that runs Postfix.
        Component("postfix", ("postfix", "postfix-ldap", "postfix-pcre", "policyd-rate-limit", "python3-milter",
                              "postfix-policyd-spf-python", "python3-libarchive-c", "prometheus-postfix-exporter"),
                  "postfix postfix/main_mailer_type select No configuration\n",
                  ("govmail-from-milter", "govmail-attachment-milter", "postfix", "policyd-rate-limit",
                   "prometheus-postfix-exporter"),
                  unit_files=True),
        # With several stores, each (the mail host too) copies its mailboxes to its partner on a timer.
        Component("dovecot", DOVECOT_PACKAGES, "",
                  ("dovecot", "govmail-store-copy.timer") if s.stores_apart else ("dovecot",),
                  unit_files=bool(s.stores_apart)),
        # The mail host's own part of Dovecot's configuration (its certificate, Postfix's sockets).
        Component("dovecot_front", (), "", ("dovecot",)),
        # Installed before Roundcube, so that its PHP dependency is met by php-fpm and apt pulls no Apache.
        Component("nginx", ("nginx-light", f"php{PHP_VERSION}-fpm", f"php{PHP_VERSION}-ldap"), "", ("nginx",)),
        # Files holding directory passwords or the session key are readable by the web server's user only.
        # php-net-ldap3: the LDAP library of Roundcube's address book (the province's directory).
        Component("roundcube", ("roundcube-core", "roundcube-sqlite3", "roundcube-plugins", "php-net-ldap3",
                                *(("roundcube-pgsql",) if s.floating else ())),
                  "roundcube-core roundcube/dbconfig-install boolean true\n"
                  "roundcube-core roundcube/database-type select sqlite3\n"
                  "roundcube-core roundcube/reconfigure-webserver multiselect\n"
                  "roundcube-core roundcube/restart-webserver boolean false\n",
                  (f"php{PHP_VERSION}-fpm",)),
        # OpenDMARC's reports would need a database: its debconf answer declines one, but its dependency pulls
        # dbconfig-mysql in, and Roundcube's database would then be made for MySQL: so it comes after Roundcube
        # (Postfix answers 4xx on port 25 until it runs, on a first deploy). dbconfig-no-thanks would switch
        # off Roundcube's database altogether.
        Component("opendmarc", ("opendmarc",), "opendmarc opendmarc/dbconfig-install boolean false\n",
                  ("opendmarc",)),
        # The exporters watching every part above, and Prometheus with Alertmanager, here or on the `monitor`
        # host; before the firewall, whose rules name the prometheus user. No ICMP probes: the blackbox
        # exporter needs no raw sockets.
        Component("monitoring", MONITORING_PACKAGES, "", MONITORING_SERVICES, unit_files=True),
        Component("monitoring_server", MONITORING_SERVER_PACKAGES,
                  "prometheus-blackbox-exporter prometheus-blackbox-exporter/want_cap_net_raw boolean false\n",
                  MONITORING_SERVER_SERVICES, role="monitor" if s.monitor_address else "mail"),
        # Last: govmail's nftables table, and fail2ban, which watches the logs of all the above and bans
        # at this host's firewall (on every front: the mail host and the fronts apart).
        Component("firewall", ("nftables",), "", ("govmail-firewall",), unit_files=True),
        Component("bans", ("fail2ban", "python3-systemd"), "", ("fail2ban",), unit_files=True),
    ]
    # Every log file rotated, kept as long as the inventory says; the journal capped (read again on a change).
    # ClamAV's package scripts write their own rotation at install time (weekly, 12 weeks); govmail's covers
    # those logs, and two rules for one file would stop logrotate from reading either.
    parts.append(Component("logging", ("logrotate",), "", ("logrotate.timer",), unit_files=True,
                           absent=tuple(f"/etc/logrotate.d/{unit}" for unit in CLAMAV_LOGS)))
    if s.backup:
        # restic on the mail host, run by a timer; on the backup host, restic's REST server (append-only,
        # behind a firewall admitting the mail host alone) keeping the repositories, and restic again to
        # apply the retention there. The SFTP server of govmail 2026-11 (whose key could delete) is taken away.
        parts += [Component("backup", ("restic",), "", ("govmail-backup.timer",), unit_files=True),
                  Component("backup_server", ("restic-rest-server", "restic", "nftables"), "",
                            ("govmail-backup-firewall", "restic-rest-server", "govmail-backup-prune.timer"),
                            unit_files=True, role="backup")]
    if s.directory_providers:
        # The other providers of the directory: the openldap component (its tree steps on the mail host
        # alone: the others receive the tree by replication), a firewall of their own, and the node exporter
        # the monitoring server scrapes (their services, disks, and the stores' copy metrics).
        parts += [Component("directory_firewall", ("nftables",), "", ("govmail-directory-firewall",),
                            unit_files=True, role="directory"),
                  Component("directory_monitoring", ("prometheus-node-exporter", "dbus"), "",
                            ("prometheus-node-exporter",), unit_files=True, role="directory")]
    if s.stores_apart:
        # The store hosts' Dovecot: the same configuration, their own certificate and proxy listeners.
        parts.append(Component("dovecot_store", DOVECOT_PACKAGES, "", ("dovecot",), role="store"))
    # Roundcube's database shared by the fronts (PostgreSQL, a primary and streaming standbys), after Roundcube,
    # whose package holds the schema and whose SQLite data it moves in (Roundcube's PostgreSQL driver comes with
    # Roundcube, so that php-fpm's restart loads it); without fronts apart, nothing but the withdrawal of what an
    # earlier deploy put there.
    parts.insert([c.name for c in parts].index("roundcube") + 1, Component(
        "webmail_db", ("postgresql", "pgloader"), "",
        (PG_UNIT, "govmail-webmail-db-metrics.timer"), unit_files=True,
        role="front") if s.floating else Component("webmail_db", role="front"))
    # keepalived on every front (the mail host too), moving the users' floating address to a front whose Dovecot
    # runs; without a floating address, nothing but the withdrawal of what an earlier deploy put there.
    parts.append(Component("keepalived", ("keepalived",), "", ("govmail-keepalived",), unit_files=True, role="front",
                           kept_off=("keepalived",)) if s.floating else Component("keepalived", role="front"))
    table = render.deployment_files(s, host)
    gone = withdrawn_files(bool(s.stores_apart), bool(s.stores_apart or s.mx_hosts), s.floating is not None)
    return {c.name: replace(c, files=tuple(f for f in table if f.component == c.name),
                            withdrawn=tuple(f.path for f in gone if f.component == c.name),
                            withdrawn_units=tuple(Path(f.path).name for f in gone
                                                  if f.component == c.name and Path(f.path).parent == Path(UNIT_DIR)))
            for c in parts}


def watched_units(s: Settings) -> list[str]:
    """The systemd units of the mail host's services and timers, whose state the monitoring watches (keepalived
    too where the mail host is one of several fronts)."""
    return unit_names(u for c in components(s).values() if c.role in ("mail", "front") for u in c.services)


# What an MX host apart runs besides a directory host's parts: Postfix and its whole filter chain, and the
# rotation of their logs.
MX_COMPONENTS = ("clamav", "spamassassin", "opendkim", "postfix", "opendmarc", "logging")


def directory_host_units(s: Settings, host: str | None = None) -> list[str]:
    """The units the monitoring watches on another directory provider (`host`; None: any of them, the node
    exporters' filter): its slapd, firewall and node exporter; on a store apart, Dovecot, the partner copies'
    timer and the backups'; on an MX host apart, Postfix and its filters; on a front apart, keepalived, the
    webmail (nginx, PostgreSQL and its metrics timer, php-fpm) and fail2ban."""
    parts = components(s)
    names = ["openldap", "directory_firewall", "directory_monitoring"]
    if s.stores_apart and host in (None, *s.stores_apart):
        names += ["dovecot"] + (["backup"] if s.backup else [])
    if s.mx_hosts and host in (None, *s.mx_hosts):
        names += MX_COMPONENTS
    if s.floating and host in (None, *s.floating.fronts):
        names += ["keepalived", "nginx", "webmail_db", "roundcube", "bans"]
    return unit_names(dict.fromkeys(u for name in names for u in parts[name].services))


def unit_names(services) -> list[str]:
    return [u if u.endswith((".service", ".timer")) else f"{u}.service" for u in services]


def slapd_listeners(s: Settings) -> str:
    """Debian's /etc/default/slapd line: the listeners slapd opens. The services on this host use 127.0.0.1,
    operators come through SSH (govmail.reach); ldaps:// answers on every address only where the inventory
    lists directory peers or other directory providers, and the firewall admits only them."""
    ldaps = "ldaps:///" if s.defences.directory_peers or s.directory_providers else "ldaps://127.0.0.1/"
    return f'SLAPD_SERVICES="ldap://127.0.0.1/ {ldaps} ldapi:///"'


def ca_label(s: Settings) -> str:
    """The name of the inventory's internal CA (its certificates' issuer)."""
    return Path(s.inventory or s.province).name


def tls_material(s: Settings, secrets, host: str | None = None) -> dict[str, str]:
    """The TLS files: the mail host's (the operator's own certificate, or one from the inventory's internal
    CA; on an MX host apart, its own from that CA), and slapd's own key and certificate from the internal CA, so that slapd's user never holds the key
    the public services use. slapd answers on loopback only: its clients trust the internal CA."""
    label = ca_label(s)
    if s.tls_files:
        cert, key = (path.read_bytes() for path in s.tls_files)
        tls.warn_if_expiring(cert, str(s.tls_files[0]))
        chain = cert
    else:
        key, cert, ca = tls.server_certificate(secrets.directory, label, s.web_names)
        chain = cert + ca
    # One certificate for every directory provider (same bytes on each), naming each: they check each other's.
    slapd_names = [s.mail_host, *(p.name for p in s.directory_providers if p.name and p.name != s.mail_host)]
    slapd_key, slapd_cert, ca = tls.server_certificate(secrets.directory, label, slapd_names,
                                                       stem=f"slapd-{s.mail_host}")
    cert_path, key_path = tls_paths(s.mail_host)
    own = {cert_path: chain.decode(), key_path: key.decode()}
    if host in s.mx_hosts:
        # An MX host apart greets with its own name (its MX record's target), in a certificate of the same CA; a
        # front host among them presents the mail host's certificate to users as well.
        mx_key, mx_cert, _ = tls.server_certificate(secrets.directory, label, [host], stem=f"mx-{host}")
        mx_cert_path, mx_key_path = tls_paths(host)
        own = {mx_cert_path: (mx_cert + ca).decode(), mx_key_path: mx_key.decode(),
               **(own if host in s.front_addresses else {})}
    store = {}
    if s.stores_apart or s.mx_hosts:
        store_key, store_cert, _ = tls.server_certificate(secrets.directory, label, list(s.stores),
                                                          stem=f"store-{s.mail_host}")
        store = {STORE_CERT: (store_cert + ca).decode(), STORE_KEY: store_key.decode()}
    if s.floating:      # PostgreSQL's copy of the stores' certificate (its key readable by the postgres group)
        store |= {f"{WEBMAIL_DB_DIR}/tls.crt": store[STORE_CERT], f"{WEBMAIL_DB_DIR}/tls.key": store[STORE_KEY],
                  f"{WEBMAIL_DB_DIR}/ca.crt": ca.decode()}
    return {**store, **own, PROBE_CA: chain.decode(), PROBE_INTERNAL_CA: ca.decode(),
            f"{SLAPD_DIR}/tls.key": slapd_key.decode(),
            f"{SLAPD_DIR}/tls.crt": slapd_cert.decode(), f"{SLAPD_DIR}/tls-ca.crt": ca.decode()}


def host_files(s: Settings, host: str | None = None) -> dict[str, str]:
    """Every file govmail puts on a mail host, by path: the rendered templates, the TLS material, the
    DKIM key that signs and the MTA-STS policy (whose CRLF lines no template keeps). With `host` (its hosts.yml
    name), as that host gets them: a store host's backups are its own (render.backup_client)."""
    secrets = render.default_secrets(s)
    content = {**render.render_all(s, secrets, host), **tls_material(s, secrets, host), **backup_keys(s, secrets, host),
               DKIM_KEY: dkim.active(secrets, s.domain).private_pem, MTA_STS_POLICY: dnsrecords.mta_sts_policy(s)}
    if DEPLOY_MANIFEST not in {f.path for f in render.deployment_files(s, host)}:
        return content            # an MX host apart keeps no record of the mail host's deploys
    return {**content, DEPLOY_MANIFEST: deploy_manifest(s, content)}


def deploy_manifest(s: Settings, content: dict[str, str]) -> str:
    """Each of the mail host's files with its SHA-256 (the deploy record compares two deploys' manifests:
    which files changed)."""
    on_mail_host = {f.path for f in render.deployment_files(s) if f.role == "mail"}
    digests = {path: hashlib.sha256(text.encode()).hexdigest() for path, text in sorted(content.items())
               if path in on_mail_host}
    return json.dumps({"province": s.province, "files": digests}, indent=1) + "\n"


def backup_keys(s: Settings, secrets, host: str | None = None) -> dict[str, str]:
    """The backup path's secrets, all made on the operator's side: the repository's passphrase (on the hosts
    that back up, and on the backup host, which applies the retention), each such host's own password at the
    REST server (their bcrypt hashes on the server: a store cannot log in as the mail host, whose repository
    holds the directory), and the server's certificate from govmail's CA, which they trust alone, so nothing is
    learnt on trust."""
    if not s.backup:
        return {}
    passphrase = secrets.password("backup-repository") + "\n"
    key, cert, ca = tls.server_certificate(secrets.directory, ca_label(s), [s.backup.target],
                                           stem=f"backup-{s.backup.target}")
    logins = "".join(f"{client}:{secrets.bcrypt_hash(rest_login(s, client))}\n" for client in render.backup_clients(s))
    return {f"{BACKUP_CONF}/passphrase": passphrase,
            f"{BACKUP_CONF}/rest-password": secrets.password(rest_login(s, render.backup_client(s, host))) + "\n",
            f"{BACKUP_CONF}/server-ca.crt": ca.decode(),
            f"{BACKUP_REST_CONF}/users.htpasswd": logins,
            f"{BACKUP_REST_CONF}/tls.crt": cert.decode(), f"{BACKUP_REST_CONF}/tls.key": key.decode(),
            f"{BACKUP_SERVER_CONF}/passphrase": passphrase}


def rest_login(s: Settings, client: str) -> str:
    """The secret store's name for a host's password at the backup host's REST server (the mail host's as before
    stores could back up)."""
    return "backup-rest" if client == s.mail_host else f"backup-rest-{client}"


def slapd_steps(content: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each directory step with its command and the stamp govmail-slapd leaves once the step has applied
    this content. A step runs while its stamp is missing: when its files changed, and also on the run after
    one that died before the step finished (a run that only compared files would skip it then)."""
    steps = {}
    for step, names in SLAPD_STEPS.items():
        applied = "\0".join(content[f"{SLAPD_DIR}/{name}"] for name in names)
        digest = hashlib.sha256(applied.encode()).hexdigest()
        steps[step] = {"command": f"{SLAPD_TOOL} {step} {digest}", "stamp": f"{SLAPD_STAMPS}/{step}-{digest}"}
    return steps


def signature_fetch(s: Settings, content: dict[str, str]) -> dict[str, str]:
    """The deploy's ClamAV step: fetch the databases this freshclam configuration names, once (its stamp)."""
    digest = hashlib.sha256(content[FRESHCLAM_CONF].encode()).hexdigest()
    warn = " --warn-only" if s.signatures.optional else ""
    return {"command": f"{CLAMAV_TOOL} fetch {digest}{warn}", "stamp": f"{CLAMAV_STAMPS}/signatures-{digest}"}


def facts(s: Settings, content: dict[str, str]) -> dict:
    """The few values the engines' own steps need besides the components (one place for each)."""
    rebuild, *loads = slapd_steps(content).items()
    return {"vmail_uid": VMAIL_UID, "mail_store": VMAIL, "tls_dir": TLS_DIR,
            "slapd_listeners": slapd_listeners(s), "slapd_config": SLAPD_CONFIG,
            "slapd_rebuild": rebuild[1], "slapd_loads": dict(loads),
            "signature_fetch": signature_fetch(s, content), "freshclam": s.signatures.any, "sieve_before": SIEVE_BEFORE,
            "nginx_site": NGINX_SITE, "php_version": PHP_VERSION, "backup": backup_facts(s),
            "deploy_record": DEPLOY_TOOL, "unit_dir": UNIT_DIR, "webmail_db_setup": f"{WEBMAIL_DB_TOOL} setup",
            "webmail_db_conf": PG_CONF, "webmail_db_retire": f"systemctl disable --now postgresql {PG_UNIT}"}


def backup_facts(s: Settings) -> dict:
    """What the backup host's own steps need: the repositories' directory and the repository of each host that
    backs up in it (all the REST server's user's), and what govmail 2026-11's SFTP server left there (taken away)."""
    return {"dumps": BACKUP_DUMPS, "user": BACKUP_USER, "root": BACKUP_ROOT,
            "repository_dirs": [f"{BACKUP_ROOT}/{client}" for client in render.backup_clients(s) or [s.mail_host]],
            "retired_unit": RETIRED_BACKUP_UNIT, "retired_service": Path(RETIRED_BACKUP_UNIT).name,
            "retired_dir": RETIRED_BACKUP_DIR}


def for_engine(s: Settings, host: str | None = None) -> dict:
    """One JSON-able dict for Ansible: components in deploy order, each file with its content (as the host
    of this hosts.yml name gets it: host_files), and facts."""
    content = host_files(s, host)
    parts = {}
    for name, c in components(s, host).items():
        part = asdict(c)
        part["files"] = [{**asdict(f), "content": content[f.path]} for f in c.files]
        parts[name] = part
    return {"components": parts, "facts": facts(s, content)}
