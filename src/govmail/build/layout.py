"""Where govmail's parts live on a mail host: every file govmail puts there (one table: the path, the
component that installs it, the template it comes from, its mode and group, the host role that needs it),
and the tools, directories, ports and ids the services share. One fact in one place: render, components,
the engines, the lab and the tests read them here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PHP_VERSION = "8.4"                  # Debian 13's PHP; the php-fpm pool directory is named after it
ROUNDCUBE_PLUGIN = "/var/lib/roundcube/plugins/govmail"
SLAPD_DIR = "/etc/ldap/govmail"                  # slapd's rendered LDIF and its copy of the TLS files
SLAPD_TOOL = "/usr/local/lib/govmail/govmail-slapd"   # the directory steps both engines run
SLAPD_STAMPS = "/var/lib/govmail/slapd"          # which content each of those steps last applied
SLAPD_CONFIG = "/etc/ldap/slapd.d/cn=config.ldif"      # there once cn=config was built
# What Dovecot's configuration adds on the mail host (the users' entry: public certificate, Postfix's sockets,
# the way to the stores) and on a store host of its own; dovecot.conf includes whichever the host has.
DOVECOT_FRONT = "/etc/dovecot/conf.d/govmail-front.conf"
DOVECOT_STORE = "/etc/dovecot/conf.d/govmail-store.conf"
SIEVE_BEFORE = "/etc/dovecot/sieve/govmail.sieve"   # govmail's Sieve rules, before each mailbox's own
CLAMAV_TOOL = "/usr/local/lib/govmail/clamav-signatures"   # fetches ClamAV's signatures, tells their age
CLAMAV_STAMPS = "/var/lib/govmail/clamav"        # which freshclam configuration's databases were fetched
FRESHCLAM_CONF = "/etc/clamav/freshclam.conf"
# ClamAV's official databases, as freshclam names them (ExcludeDatabase).
CLAMAV_OFFICIAL = ("main", "daily", "bytecode")
# Where Prometheus's node exporter reads metrics files (Debian's prometheus-node-exporter textfile collector).
METRICS_DIR = "/var/lib/prometheus/node-exporter"
NGINX_SITE = "/etc/nginx/sites-available/govmail-webmail"
# What nginx serves besides Roundcube: the MTA-STS policy and mail programs' account settings.
WEB_FILES = "/var/www/govmail"
MTA_STS_POLICY = f"{WEB_FILES}/mta-sts.txt"
AUTOCONFIG = f"{WEB_FILES}/config-v1.1.xml"
AUTODISCOVER = f"{WEB_FILES}/autodiscover.php"     # Outlook's POX autodiscover, run by Roundcube's php-fpm pool
PHP_FPM_SOCKET = "/run/php/roundcube.sock"
# Failed webmail passwords, logged by govmail's Roundcube plugin the moment slapd refuses them; fail2ban
# watches it (Roundcube's own userlogins.log says it only after the delay, too late to stop the next guess).
ROUNDCUBE_LOGINS = "/var/log/roundcube/govmail-failed-logins.log"
# The private DKIM key of the active selector, in Debian's directory for DKIM keys.
DKIM_KEY = "/etc/dkimkeys/govmail.private"
TLS_DIR = "/etc/govmail/tls"
# Logs the services write to files (everything else goes to the journal); logrotate keeps them as long as the
# inventory says. ClamAV's, by the unit that writes each (SIGHUP makes it reopen the file).
POSTFIX_LOG = "/var/log/postfix.log"
CLAMAV_LOGS = {"clamav-daemon": "/var/log/clamav/clamav.log", "clamav-milter": "/var/log/clamav/clamav-milter.log",
               "clamav-freshclam": "/var/log/clamav/freshclam.log"}
JOURNALD_CONF = "/etc/systemd/journald.conf.d/govmail.conf"
# Deploys that changed govmail's files: when, who, which engine, which files (the tool compares the manifest
# of file digests each deploy writes with the one the previous deploy left).
DEPLOY_LOG = "/var/log/govmail/deploys.log"
DEPLOY_MANIFEST = "/var/lib/govmail/deployed-files.json"
DEPLOY_TOOL = "/usr/local/lib/govmail/deploy-record"
VMAIL = "/var/vmail"                             # every mailbox: <domain>/<user>/ (Maildir, Sieve scripts)
LDAP_DATA = "/var/lib/ldap"                      # slapd's mdb database of the tree
# The SQLite database Debian's dbconfig-common makes for Roundcube (contacts, identities, settings).
ROUNDCUBE_DB = "/var/lib/dbconfig-common/sqlite3/roundcube/roundcube"
# Backups (restic). On the mail host: the tool, its configuration and keys, and the directory where each
# run first dumps what must not be copied while it changes (the directory, Roundcube's database).
BACKUP_TOOL = "/usr/local/lib/govmail/govmail-backup"
# With several stores: copies this store's mailboxes to its partner store (a timer; `govmail store failover`).
UNIT_DIR = "/etc/systemd/system"     # where govmail's own systemd units go
STORE_COPY_TOOL = "/usr/local/lib/govmail/store-copy"
STORE_COPY_METRICS = f"{METRICS_DIR}/govmail-store-copy.prom"
METRICS_TOOL = "/usr/local/lib/govmail/host-metrics"   # what govmail gathers for Prometheus: queue ages, slapd's
BACKUP_CONF = "/etc/govmail/backup"
BACKUP_DUMPS = "/var/backups/govmail"
BACKUP_STATE = "/var/lib/govmail/backup"         # the last run's outcome (JSON), for `govmail backup status`
# What each run copies besides the dumps: the mailboxes, the host's rendered configuration and govmail's state.
BACKUP_PATHS = (BACKUP_DUMPS, VMAIL, "/etc", "/var/lib/govmail")
# On the backup host: restic's REST server (Debian's restic-rest-server, as its own user) in append-only mode
# over TLS, one repository per mail host in one directory, each mail host allowed into its own alone; and
# the retention, applied there (a mail host's credentials cannot delete).
BACKUP_REST_PORT = 8000
BACKUP_REST_CONF = "/etc/restic-rest-server"
BACKUP_SERVER_CONF = "/etc/govmail/backup-server"
BACKUP_ROOT = "/srv/govmail-backup"
BACKUP_USER = "restic-rest-server"                # made by the package
# What the SFTP server of govmail 2026-11 left on a backup host: stopped, disabled and removed by the deploy.
RETIRED_BACKUP_UNIT = "/etc/systemd/system/govmail-sftp.service"
RETIRED_BACKUP_DIR = "/etc/ssh/govmail-sftp"
# Monitoring (Prometheus and its exporters, Debian's packages). On a single-node site the monitoring server is
# the mail host itself: every part listens on loopback, and operators reach Prometheus through SSH.
# Dovecot's own OpenMetrics listener (its stats service) is one of them.
MONITOR_PORTS = {"prometheus": 9090, "alertmanager": 9093, "node": 9100, "blackbox": 9115, "postfix": 9154,
                 "dovecot": 9900}
PROMETHEUS_RULES = "/etc/prometheus/govmail-rules.yml"
# The host's disks as the node exporter sees them, memory and image filesystems left out: percent used
# (the DiskFilling alert, `govmail status`).
_DISKS = 'fstype!~"tmpfs|ramfs|overlay|squashfs"'
DISK_USED_PERCENT = f"100 * (1 - node_filesystem_avail_bytes{{{_DISKS}}} / node_filesystem_size_bytes{{{_DISKS}}})"
ALERT_TEMPLATES = "/etc/prometheus/govmail-alerts.tmpl"
# What the blackbox exporter trusts for the mail host's certificate: its chain, wherever the prober runs.
PROBE_CA = "/etc/prometheus/govmail-probe-ca.crt"
# The inventory's internal CA, for the probe of the backup host's REST server (its certificate is always the CA's).
PROBE_INTERNAL_CA = "/etc/prometheus/govmail-internal-ca.crt"
VMAIL_UID = 5000   # owner of every mailbox on disk; no mail user has a system account

LDAPS_PORT = 636                                 # slapd's TLS listener (loopback, or the directory peers)
# The ports mail programs use, all with TLS from the first byte but submission's 587 (STARTTLS).
CLIENT_PORTS = {"imaps": 993, "pop3s": 995, "submissions": 465, "submission": 587}
# Where a store host's Dovecot answers the mail host's proxy (STARTTLS on each; its firewall admits the other
# stores alone to these and to the implicit-TLS ports), and doveadm's listener for moving mailboxes between
# stores (TLS); the inventory's internal certificate they present.
# quota_status: Dovecot's answer to Postfix's RCPT-time question (does the message fit?), on loopback for the
# mailboxes stored on the mail host, on a store's address for the mail host asking about the mailboxes stored there.
STORE_PORTS = {"imap": 143, "pop3": 110, "sieve": 4190, "lmtp": 24, "doveadm": 12345, "quota_status": 12340}
STORE_CERT = f"{TLS_DIR}/internal.crt"
STORE_KEY = f"{TLS_DIR}/internal.key"
# Loopback ports the milters listen on (Postfix's smtpd runs chrooted, so no unix sockets).
# alerts: Alertmanager's way into Postfix, with no content filter, so that an alert that clamd or spamd is
# down is not held back by the fault it reports.
PORTS = {"clamav_milter": 7357, "spamass_milter": 7358, "from_milter": 7359, "opendkim": 7360, "opendmarc": 7361,
         "attachment_milter": 7362, "sieve_forward": 10026, "alerts": 10027}


def tls_paths(mail_host: str) -> tuple[str, str]:
    """(certificate chain, key) of the mail host, as the services read them."""
    return f"{TLS_DIR}/{mail_host}.crt", f"{TLS_DIR}/{mail_host}.key"


@dataclass(frozen=True)
class HostFile:
    path: str
    component: str                   # the part of the system that installs it (components.py)
    template: str | None = None      # under templates/; None: made by code (TLS material, keys, the MTA-STS policy)
    mode: str = "0644"
    group: str = "root"              # the owner is root
    # The host role that needs it: the mail host, the host keeping the backups, or the monitoring server (the
    # mail host itself unless the inventory has a `monitor` host: host_files).
    role: str = "mail"


# Every file govmail puts on a mail host but the mail host's own certificate and key, whose names follow the
# host's name (host_files).
FILES = (
    HostFile(SLAPD_TOOL, "openldap", "slapd/govmail-slapd.j2", mode="0755"),
    HostFile(f"{SLAPD_DIR}/tls.key", "openldap", mode="0640", group="openldap"),
    HostFile(f"{SLAPD_DIR}/tls.crt", "openldap", group="openldap"),
    HostFile(f"{SLAPD_DIR}/tls-ca.crt", "openldap", group="openldap"),
    HostFile(f"{SLAPD_DIR}/govmail-schema.ldif", "openldap",
             "slapd/govmail-schema.ldif.j2", mode="0640", group="openldap"),
    HostFile(f"{SLAPD_DIR}/slapd-config.ldif", "openldap",
             "slapd/slapd-config.ldif.j2", mode="0640", group="openldap"),
    HostFile(f"{SLAPD_DIR}/base.ldif", "openldap", "slapd/base.ldif.j2", mode="0640", group="openldap"),
    HostFile(f"{SLAPD_DIR}/ppolicy.ldif", "openldap", "slapd/ppolicy.ldif.j2", mode="0640", group="openldap"),
    HostFile(f"{SLAPD_DIR}/services.ldif", "openldap", "slapd/services.ldif.j2", mode="0640", group="openldap"),
    HostFile("/etc/clamav/clamd.conf", "clamav", "clamav/clamd.conf.j2"),
    HostFile("/etc/clamav/clamav-milter.conf", "clamav", "clamav/clamav-milter.conf.j2"),
    HostFile(FRESHCLAM_CONF, "clamav", "clamav/freshclam.conf.j2"),
    HostFile("/etc/systemd/system/clamav-daemon.service.d/govmail.conf", "clamav",
             "clamav/clamav-daemon.service.conf.j2"),
    HostFile("/etc/systemd/system/clamav-milter.service", "clamav", "clamav/clamav-milter.service.j2"),
    HostFile("/etc/systemd/system/govmail-clamav-status.service", "clamav",
             "clamav/govmail-clamav-status.service.j2"),
    HostFile("/etc/systemd/system/govmail-clamav-status.timer", "clamav", "clamav/govmail-clamav-status.timer.j2"),
    HostFile(CLAMAV_TOOL, "clamav", "clamav/clamav-signatures.py.j2", mode="0755"),
    HostFile("/var/lib/clamav/govmail.ndb", "clamav", "clamav/govmail.ndb.j2", group="clamav"),
    HostFile("/etc/spamassassin/local.cf", "spamassassin", "spamassassin/local.cf.j2"),
    HostFile("/etc/default/spamd", "spamassassin", "spamassassin/spamd.j2"),
    HostFile("/etc/systemd/system/spamass-milter.service", "spamassassin", "spamassassin/spamass-milter.service.j2"),
    HostFile("/etc/opendkim.conf", "opendkim", "opendkim/opendkim.conf.j2"),
    HostFile("/etc/opendkim/key.table", "opendkim", "opendkim/key.table.j2"),
    HostFile("/etc/opendkim/signing.table", "opendkim", "opendkim/signing.table.j2"),
    HostFile(DKIM_KEY, "opendkim", mode="0640", group="opendkim"),
    HostFile("/etc/postfix/main.cf", "postfix", "postfix/main.cf.j2"),
    HostFile("/etc/postfix/master.cf", "postfix", "postfix/master.cf.j2"),
    HostFile("/etc/postfix/forward_allowed.pcre", "postfix", "postfix/forward_allowed.pcre.j2"),
    HostFile("/etc/postfix/sieve_replies.pcre", "postfix", "postfix/sieve_replies.pcre.j2"),
    HostFile("/etc/postfix/own_domains.pcre", "postfix", "postfix/own_domains.pcre.j2"),
    HostFile("/etc/postfix/relays.cidr", "postfix", "postfix/relays.cidr.j2"),
    HostFile("/etc/postfix/postscreen_access.cidr", "postfix", "postfix/postscreen_access.cidr.j2"),
    HostFile("/etc/policyd-rate-limit.yaml", "postfix", "ratelimit/policyd-rate-limit.yaml.j2"),
    HostFile("/etc/postfix-policyd-spf-python/policyd-spf.conf", "postfix", "postfix/policyd-spf.conf.j2"),
    HostFile("/etc/systemd/system/govmail-from-milter.service", "postfix", "postfix/govmail-from-milter.service.j2"),
    HostFile("/etc/systemd/system/govmail-attachment-milter.service", "postfix",
             "postfix/govmail-attachment-milter.service.j2"),
    HostFile("/usr/local/lib/govmail/from-milter", "postfix", "postfix/from-milter.py.j2", mode="0755"),
    HostFile("/usr/local/lib/govmail/attachment-milter", "postfix", "postfix/attachment-milter.py.j2", mode="0755"),
    HostFile("/etc/postfix/ldap/mailboxes.cf", "postfix",
             "postfix/ldap/mailboxes.cf.j2", mode="0640", group="postfix"),
    HostFile("/etc/postfix/ldap/aliases.cf", "postfix", "postfix/ldap/aliases.cf.j2", mode="0640", group="postfix"),
    HostFile("/etc/postfix/ldap/senders.cf", "postfix", "postfix/ldap/senders.cf.j2", mode="0640", group="postfix"),
    # Postfix's exporter goes wherever Postfix goes (the mail host, each MX host): its queues and its log.
    HostFile("/etc/default/prometheus-postfix-exporter", "postfix", "monitoring/postfix-exporter.default.j2"),
    HostFile("/etc/systemd/system/prometheus-postfix-exporter.service.d/govmail.conf", "postfix",
             "monitoring/postfix-exporter.service.conf.j2"),
    HostFile("/etc/tmpfiles.d/govmail-postfix-log.conf", "postfix", "monitoring/postfix-log.tmpfiles.j2"),
    HostFile("/etc/dovecot/dovecot.conf", "dovecot", "dovecot/dovecot.conf.j2", mode="0640", group="dovecot"),
    HostFile("/etc/dovecot/conf.d/90-quota.conf", "dovecot", "dovecot/conf.d/90-quota.conf.j2"),
    HostFile(DOVECOT_FRONT, "dovecot_front", "dovecot/conf.d/govmail-front.conf.j2", mode="0640", group="dovecot"),
    HostFile(SIEVE_BEFORE, "dovecot", "dovecot/sieve/govmail.sieve.j2"),
    HostFile("/usr/local/lib/govmail/quota-warning", "dovecot", "dovecot/quota-warning.j2", mode="0755"),
    HostFile(NGINX_SITE, "nginx", "nginx/webmail.conf.j2"),
    HostFile(MTA_STS_POLICY, "nginx"),
    HostFile(AUTOCONFIG, "nginx", "nginx/autoconfig.xml.j2"),
    HostFile(AUTODISCOVER, "nginx", "nginx/autodiscover.php.j2"),
    HostFile("/etc/roundcube/config.inc.php", "roundcube",
             "roundcube/config.inc.php.j2", mode="0640", group="www-data"),
    HostFile("/etc/roundcube/plugins/password/config.inc.php", "roundcube",
             "roundcube/password.config.inc.php.j2", mode="0640", group="www-data"),
    HostFile(f"{ROUNDCUBE_PLUGIN}/govmail.php", "roundcube", "roundcube/govmail-plugin/govmail.php.j2"),
    HostFile(f"{ROUNDCUBE_PLUGIN}/localization/vi_VN.inc", "roundcube",
             "roundcube/govmail-plugin/localization/vi_VN.inc.j2"),
    HostFile(f"{ROUNDCUBE_PLUGIN}/localization/en_US.inc", "roundcube",
             "roundcube/govmail-plugin/localization/en_US.inc.j2"),
    HostFile(f"{ROUNDCUBE_PLUGIN}/skins/elastic/templates/change.html", "roundcube",
             "roundcube/govmail-plugin/skins/elastic/templates/change.html.j2"),
    HostFile(f"/etc/php/{PHP_VERSION}/fpm/pool.d/roundcube.conf", "roundcube", "roundcube/php-fpm-pool.conf.j2"),
    HostFile("/etc/opendmarc.conf", "opendmarc", "opendmarc/opendmarc.conf.j2"),
    HostFile("/etc/opendmarc/ignore.hosts", "opendmarc", "opendmarc/ignore.hosts.j2"),
    HostFile("/etc/govmail/nftables.conf", "firewall", "firewall/nftables.conf.j2"),
    HostFile("/etc/systemd/system/govmail-firewall.service", "firewall", "firewall/govmail-firewall.service.j2"),
    HostFile("/etc/fail2ban/jail.d/govmail.conf", "bans", "firewall/jail.conf.j2"),
    HostFile("/etc/fail2ban/filter.d/govmail-dovecot.conf", "bans", "firewall/dovecot-filter.conf.j2"),
    HostFile("/etc/tmpfiles.d/govmail-roundcube-logins.conf", "bans", "firewall/roundcube-logins.tmpfiles.j2"),
    HostFile("/etc/systemd/system/fail2ban.service.d/govmail.conf", "bans", "firewall/fail2ban.service.conf.j2"),
    HostFile("/etc/logrotate.d/govmail", "logging", "logging/govmail.logrotate.j2"),
    HostFile("/etc/logrotate.d/nginx", "logging", "logging/nginx.logrotate.j2"),
    HostFile("/etc/logrotate.d/roundcube-core", "logging", "logging/roundcube.logrotate.j2"),
    HostFile("/etc/logrotate.d/fail2ban", "logging", "logging/fail2ban.logrotate.j2"),
    HostFile(f"/etc/logrotate.d/php{PHP_VERSION}-fpm", "logging", "logging/php-fpm.logrotate.j2"),
    HostFile(JOURNALD_CONF, "logging", "logging/journald.conf.j2"),
    HostFile(DEPLOY_TOOL, "logging", "logging/deploy-record.py.j2", mode="0755"),
    HostFile(DEPLOY_MANIFEST, "logging", mode="0640"),
    HostFile("/etc/prometheus/prometheus.yml", "monitoring_server", "monitoring/prometheus.yml.j2", role="monitor"),
    HostFile(PROMETHEUS_RULES, "monitoring_server", "monitoring/rules.yml.j2", role="monitor"),
    HostFile("/etc/prometheus/alertmanager.yml", "monitoring_server", "monitoring/alertmanager.yml.j2", role="monitor"),
    HostFile(ALERT_TEMPLATES, "monitoring_server", "monitoring/alerts.tmpl.j2", role="monitor"),
    HostFile("/etc/prometheus/blackbox.yml", "monitoring_server", "monitoring/blackbox.yml.j2", role="monitor"),
    HostFile(PROBE_CA, "monitoring_server", role="monitor"),
    HostFile(PROBE_INTERNAL_CA, "monitoring_server", role="monitor"),
    HostFile("/etc/default/prometheus", "monitoring_server", "monitoring/prometheus.default.j2", role="monitor"),
    HostFile("/etc/default/prometheus-alertmanager", "monitoring_server", "monitoring/alertmanager.default.j2",
             role="monitor"),
    HostFile("/etc/default/prometheus-blackbox-exporter", "monitoring_server",
             "monitoring/blackbox-exporter.default.j2", role="monitor"),
    HostFile("/etc/default/prometheus-node-exporter", "monitoring", "monitoring/node-exporter.default.j2"),
    HostFile(METRICS_TOOL, "monitoring", "monitoring/host-metrics.py.j2", mode="0755"),
    HostFile("/etc/systemd/system/govmail-metrics.service", "monitoring", "monitoring/govmail-metrics.service.j2"),
    HostFile("/etc/systemd/system/govmail-metrics.timer", "monitoring", "monitoring/govmail-metrics.timer.j2"),
    HostFile(BACKUP_TOOL, "backup", "backup/govmail-backup.py.j2", mode="0755"),
    HostFile(f"{BACKUP_CONF}/backup.conf", "backup", "backup/backup.conf.j2"),
    HostFile(f"{BACKUP_CONF}/passphrase", "backup", mode="0600"),
    HostFile(f"{BACKUP_CONF}/rest-password", "backup", mode="0600"),
    HostFile(f"{BACKUP_CONF}/server-ca.crt", "backup"),
    HostFile("/etc/systemd/system/govmail-backup.service", "backup", "backup/govmail-backup.service.j2"),
    HostFile("/etc/systemd/system/govmail-backup.timer", "backup", "backup/govmail-backup.timer.j2"),
    HostFile("/etc/default/restic-rest-server", "backup_server", "backup/rest-server.default.j2", role="backup"),
    HostFile(f"{BACKUP_REST_CONF}/users.htpasswd", "backup_server", mode="0640", group=BACKUP_USER, role="backup"),
    HostFile(f"{BACKUP_REST_CONF}/tls.crt", "backup_server", role="backup"),
    HostFile(f"{BACKUP_REST_CONF}/tls.key", "backup_server", mode="0640", group=BACKUP_USER, role="backup"),
    HostFile(f"{BACKUP_SERVER_CONF}/passphrase", "backup_server", mode="0640", group=BACKUP_USER, role="backup"),
    HostFile(f"{BACKUP_SERVER_CONF}/nftables.conf", "backup_server", "backup/nftables.conf.j2", role="backup"),
    HostFile("/etc/systemd/system/govmail-backup-firewall.service", "backup_server",
             "backup/govmail-backup-firewall.service.j2", role="backup"),
    HostFile("/etc/systemd/system/govmail-backup-prune.service", "backup_server",
             "backup/govmail-backup-prune.service.j2", role="backup"),
    HostFile("/etc/systemd/system/govmail-backup-prune.timer", "backup_server",
             "backup/govmail-backup-prune.timer.j2", role="backup"),
)
BACKUP_COMPONENTS = ("backup", "backup_server")
# On each host of group `directory` (another provider of the directory): the openldap component's files, its
# own firewall admitting the other providers alone to ldaps://, and a node exporter for the monitoring server.
DIRECTORY_FIREWALL = "/etc/govmail/directory/nftables.conf"
DIRECTORY_FILES = (
    HostFile(DIRECTORY_FIREWALL, "directory_firewall", "slapd/directory-nftables.conf.j2", role="directory"),
    HostFile("/etc/systemd/system/govmail-directory-firewall.service", "directory_firewall",
             "slapd/govmail-directory-firewall.service.j2", role="directory"),
    # The node exporter of Debian's package, started with govmail's arguments (a drop-in: the mail host's own
    # arguments are in /etc/default/prometheus-node-exporter).
    HostFile("/etc/systemd/system/prometheus-node-exporter.service.d/govmail.conf", "directory_monitoring",
             "monitoring/directory-node-exporter.conf.j2", role="directory"),
)


# With store hosts apart from the mail host (each also a directory host): what their Dovecot adds to the mail
# host's configuration (the proxy's listener for deliveries), the internal certificate every store presents to
# the others (the mail host's too: it is a store), the mail host's Postfix map naming a mailbox's store, and
# every store's copies to its partner.
STORE_FILES = (
    HostFile(DOVECOT_STORE, "dovecot_store", "dovecot/conf.d/govmail-store.conf.j2", mode="0640", group="dovecot",
             role="store"),
    HostFile("/etc/postfix/ldap/stores.cf", "postfix", "postfix/ldap/stores.cf.j2", mode="0640", group="postfix"),
    # On every store, the mail host included (component dovecot): the partner copies.
    HostFile(STORE_COPY_TOOL, "dovecot", "dovecot/store-copy.py.j2", mode="0755"),
    HostFile("/etc/systemd/system/govmail-store-copy.service", "dovecot", "dovecot/govmail-store-copy.service.j2"),
    HostFile("/etc/systemd/system/govmail-store-copy.timer", "dovecot", "dovecot/govmail-store-copy.timer.j2"),
)
# The internal certificate the stores present to each other, and the mail host to the MX hosts' deliveries
# (LMTP with STARTTLS).
INTERNAL_TLS_FILES = (
    HostFile(STORE_CERT, "dovecot"),
    HostFile(STORE_KEY, "dovecot", mode="0600"),
)


# With front hosts apart: keepalived on each front (the mail host too) moving the users' floating address, VRRP
# router 51 of the fronts' network segment.
VRRP_ROUTER_ID = 51
VRRP_INSTANCE = "govmail_front"
KEEPALIVED_CONF = "/etc/govmail/keepalived.conf"
FRONT_STATE_TOOL = "/usr/local/lib/govmail/front-state"
FRONT_METRICS = f"{METRICS_DIR}/govmail-front.prom"
KEEPALIVED_FILES = (
    HostFile(KEEPALIVED_CONF, "keepalived", "keepalived/keepalived.conf.j2"),
    HostFile("/etc/systemd/system/govmail-keepalived.service", "keepalived", "keepalived/govmail-keepalived.service.j2"),
    HostFile(FRONT_STATE_TOOL, "keepalived", "keepalived/front-state.j2", mode="0755"),
)


# With front hosts apart: Roundcube's database in PostgreSQL (Debian's), on every front, so that a user's settings,
# identities and personal contacts follow them to whichever front holds the floating address. The front holding
# it runs the primary; the others stream its changes (a standby each, following the floating address). The tool
# moves the primary with the address: keepalived's notify promotes the new holder's standby and turns the old
# primary into a standby of it (pg_rewind); before keepalived starts, a front that was the primary while another
# took over rejoins as a standby first. Replication and the tool's checks over TLS (the stores' internal
# certificate), with the replicator role's password alone, from the other fronts alone (pg_hba and firewall).
PG_VERSION = "17"                                # Debian 13's PostgreSQL
PG_PORT = 5432
PG_UNIT = f"postgresql@{PG_VERSION}-main"           # the cluster Debian's package makes, as a systemd unit
WEBMAIL_DB_DIR = "/etc/govmail/webmail-db"
WEBMAIL_DB_TOOL = "/usr/local/lib/govmail/webmail-db"
PG_CONF = f"/etc/postgresql/{PG_VERSION}/main/conf.d/govmail.conf"
WEBMAIL_DB_FILES = (
    HostFile(PG_CONF, "webmail_db", "webmail_db/postgresql.conf.j2"),
    HostFile(f"{WEBMAIL_DB_DIR}/pg_hba.conf", "webmail_db", "webmail_db/pg_hba.conf.j2", mode="0640", group="postgres"),
    HostFile(f"{WEBMAIL_DB_DIR}/passwords.json", "webmail_db", "webmail_db/passwords.json.j2", mode="0600"),
    HostFile(f"{WEBMAIL_DB_DIR}/tls.crt", "webmail_db"),
    HostFile(f"{WEBMAIL_DB_DIR}/tls.key", "webmail_db", mode="0640", group="postgres"),
    HostFile(f"{WEBMAIL_DB_DIR}/ca.crt", "webmail_db"),
    HostFile(WEBMAIL_DB_TOOL, "webmail_db", "webmail_db/webmail-db.py.j2", mode="0755"),
    # Every 30 s, each front's role (primary, or a standby streaming or not) for the monitoring and `govmail status`.
    HostFile(f"{UNIT_DIR}/govmail-webmail-db-metrics.service", "webmail_db", "webmail_db/govmail-webmail-db-metrics.service.j2"),
    HostFile(f"{UNIT_DIR}/govmail-webmail-db-metrics.timer", "webmail_db", "webmail_db/govmail-webmail-db-metrics.timer.j2"),
)
WEBMAIL_DB_METRICS = f"{METRICS_DIR}/govmail-webmail-db.prom"


def withdrawn_files(stores_apart: bool, internal_tls: bool, floating: bool) -> tuple[HostFile, ...]:
    """What govmail put on the mail host for stores apart and takes away when the inventory has one store
    again: the partner copies' tool, units and metrics, Postfix's map of stores; the internal certificate too
    unless something still uses it (`internal_tls`: stores apart, or MX hosts delivering over TLS); keepalived's
    unit, configuration, notify script and its metrics without a floating address, and PostgreSQL's files (the
    server stopped for good first: webmail.database)."""
    gone = () if stores_apart else (tuple(f for f in STORE_FILES if f.role == "mail")
                                    + (HostFile(STORE_COPY_METRICS, "dovecot"),))
    return gone + (() if internal_tls else INTERNAL_TLS_FILES) + (
        () if floating else KEEPALIVED_FILES + (HostFile(FRONT_METRICS, "keepalived"),) + WEBMAIL_DB_FILES
        + (HostFile(WEBMAIL_DB_METRICS, "webmail_db"),))


def host_files(mail_host: str, backups: bool = True, monitor_apart: bool = False,
               directory_hosts: bool = False, stores_apart: bool = False, mx_apart: bool = False,
               cert_host: str | None = None, floating: bool = False, front_apart: bool = False) -> tuple[HostFile, ...]:
    """The table for one deployment: with its mail host's certificate and key (an MX host's own: `cert_host`;
    a front host apart has the mail host's as well); without the backup parts when the inventory names no backup
    target; the monitoring server's files on the mail host unless the inventory has a host of its own for them;
    the directory hosts' own files when it has some; the internal certificate with stores apart or MX hosts
    apart; keepalived's with a floating address."""
    table = FILES if backups else tuple(f for f in FILES if f.component not in BACKUP_COMPONENTS)
    if cert_host:     # an MX host apart keeps no record of the mail host's deploys
        table = tuple(f for f in table if f.path not in (DEPLOY_TOOL, DEPLOY_MANIFEST))
    if directory_hosts:
        table += DIRECTORY_FILES
    if stores_apart:
        table += STORE_FILES
    if stores_apart or mx_apart:
        table += INTERNAL_TLS_FILES
    if floating:
        table += KEEPALIVED_FILES + WEBMAIL_DB_FILES
    if not monitor_apart:
        table = tuple(replace(f, role="mail") if f.role == "monitor" else f for f in table)
    certified = ([cert_host] if cert_host else []) + ([mail_host] if front_apart or not cert_host else [])
    return table + tuple(f for name in certified for cert, key in [tls_paths(name)]
                         for f in (HostFile(cert, "tls"), HostFile(key, "tls", mode="0600")))


# template (under templates/) -> path on the host
MANAGED_FILES = {f.template: f.path for f in FILES if f.template}
