"""The settings model: one profile + one inventory's overrides -> everything a template may read.

Both engines (pyinfra's deploy.py and the Ansible roles) build this object and render the same
templates from it, so no value is derived twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyAddress, IPvAnyNetwork, PositiveInt, ValidationError, field_validator, model_validator

from govmail import reach
from govmail.errors import BadInput
from govmail.model.profile import (DurationValue, MailboxKind, Profile, SizeValue, Strict, describe_errors,
                      load_profile, read_yaml)
from govmail.model.units import Duration, Size, parse_duration, parse_size

# Project defaults for what a regulation leaves unset (`value: null` in a profile). Each profile's
# `note:` names the default that applies to it.
DEFAULTS: dict[str, Any] = {
    "quota": parse_size("2GB"),
    "attachment_max": parse_size("20MB"),          # the limit Hà Nam and Đà Nẵng set
    "client_protocols": ["webmail", "imap", "submission"],
    "password_min_length": 8,
    "password_classes": ["upper", "lower", "digit", "special"],
    "password_max_age": parse_duration("3 months"),
    "change_at_first_login": True,
    "issued_min_length": 12,
    "lockout_failures": 5,
    # How long failed passwords lock a mailbox; the lock ends by itself (an operator's lock does not).
    "lockout_duration": parse_duration("15 minutes"),
    # Outbound limits for a logged-in sender (a stolen password must not turn into a spam run).
    "recipients_per_hour": 500,
    "recipients_per_message": 100,
    # An address banned at the firewall after failed logins stays banned this long.
    "ban_minutes": 60,
    "locked_still_receives": True,
    "notify_agency": True,
    "display_name": "full_name",
    # No regulation says how long a revoked mailbox's mail is kept: a year covers a late restore request.
    "revoked_retention": parse_duration("12 months"),
    # No regulation scores spam. SpamAssassin's own threshold tags; a score this high is never a
    # legitimate message (GTUBE scores 1000), so it is refused during the SMTP session.
    "spam_tag_score": 5.0,
    "spam_reject_score": 10,
    "spamd_children": 4,
    # A sweep that would lock or revoke more than this share of the mailboxes stops and asks for --yes: a
    # wrong clock on the operator's machine must not revoke a province.
    "sweep_max_percent": 10,
    # The nightly sweep reminds a user this many days before their password stops working (the maximum age,
    # or the deadline for changing an issued one). No regulation asks for it; every one of them ends in a
    # refused login, and a reminder costs nothing.
    "password_reminders": [14, 3],
    # Backups (restic): what is kept after each run's prune, and when the run starts (systemd OnCalendar,
    # the host's local time; systemd adds up to 30 minutes so that several hosts do not start together).
    "backup_keep": {"daily": 14, "weekly": 8, "monthly": 12},
    "backup_schedule": "*-*-* 01:30:00",
    # How long the host keeps its logs (rotated files and the journal). No regulation sets it; a year covers
    # the audits and incident reports the regulations ask for. Raise it where the province's security level
    # (Decree 85/2016, TCVN 11930) requires more.
    "log_retention": parse_duration("12 months"),
    "journal_max_use": parse_size("2GB"),          # the journal's share of the disk, whatever its age
    # Monitoring (Prometheus): how long a fault lasts before it is mailed to the operators (its `for:`), and
    # each alert's threshold. No regulation sets these; they are what an operator answering for a service
    # "ổn định, liên tục" would want to hear of before the users do.
    "alerts": {"after": parse_duration("5 minutes"), "disk_percent": 85, "certificate_days": 21,
               "signature_age": parse_duration("2 days"), "backup_age": parse_duration("26 hours"), "queue_size": 200,
               "login_failures": 50,         # failed logins (IMAP, POP3, submission, webmail) in 10 minutes
               "deferred_age": parse_duration("4 hours")},   # the oldest deferred message (Postfix retries it)
    "metrics_retention": parse_duration("90 days"),
    # With several stores: how often each store copies its mailboxes to its partner store (the next one in
    # hosts.yml's group `store`, the last one's being the first). A failover loses what arrived since.
    "store_copy_every": parse_duration("5 minutes"),
}
MIN_LOG_DAYS = 30
SWEEP_GUARD_FLOOR = 5     # so many actions never need --yes, whatever the share (a small site's normal night)
FAILURE_WINDOW_SECONDS = 15 * 60    # failures older than this are forgotten
FAILURE_DELAY_SECONDS = 2           # a wrong password is answered this late (Dovecot and webmail alike)
GRACE_LOGINS = 3                    # binds allowed after expiry, so webmail can still change it
EXPIRE_WARNING_SECONDS = 14 * 86400


@dataclass(frozen=True)
class Argon2Cost:
    """How slapd hashes every new or changed password (its argon2 module, libargon2, argon2id)."""
    memory_kib: int
    iterations: int
    parallelism: int

    @property
    def module_args(self) -> str:
        return f"m={self.memory_kib} t={self.iterations} p={self.parallelism}"


# OWASP's password storage minimum for argon2id: 19 MiB, 2 passes, 1 lane. Every IMAP, POP3, SMTP and
# webmail login verifies one hash (bench/logins.py measures the cost).
PASSWORD_HASH = Argon2Cost(memory_kib=19456, iterations=2, parallelism=1)
# Postfix's per-client limits on port 25 and submission (anvil, per minute); the host and operators exempt.
SMTP_CLIENT_LIMITS = {"connections": 20, "connection_rate": 60, "message_rate": 120, "auth_rate": 20}
PASSWORD_HISTORY = 5

# A MIME message carries an attachment base64-encoded: 4 bytes per 3, in lines of 76 characters each
# ended by CRLF. On top come headers, the text part and MIME boundaries: 1 MiB of headroom.
BASE64_LINE = 76
MESSAGE_HEADROOM = 2**20

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
CLASS_CHARS = {"upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "lower": "abcdefghijklmnopqrstuvwxyz",
               "digit": "0123456789"}
# Directory attributes holding the personal data a password must not contain (ppm checkAttributes).
PERSONAL_DATA_ATTRIBUTES = {"name": ["cn", "sn", "givenName"], "birth_date": ["govmailBirthDate"],
                            "phone": ["telephoneNumber", "mobile"]}
GOVERNMENT_DOMAIN = "gov.vn"

# A checkout's inventories (the lab's); an installed govmail is given --inventory.
INVENTORIES_DIR = Path(__file__).resolve().parents[3] / "inventories"
# Override values end up in configuration files: nothing that could carry a line break or a quote.
HOSTNAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
MIRROR_URL = r"^https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?$"
# The backup repository's host: a name (one label is enough inside the operator's network) or an IPv4 address.
BACKUP_HOST = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
# systemd calendar expressions: digits, names and the signs OnCalendar uses, nothing that breaks a line.
CALENDAR = r"^[A-Za-z0-9*:,./~ -]{1,100}$"
# A signature file freshclam fetches as it is: its name says its kind (ClamAV's database extensions).
SIGNATURE_URL = (r"^https?://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9._~/-]*"
                 r"\.(hdb|hsb|mdb|msb|ndb|ldb|cdb|fp|sfp|ign2|yara?|pdb|wdb|gdb|idb|crb|ftm)$")
# Where users get help: a web page over HTTPS or a mail address.
SUPPORT_URL = r"^(https://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/%#?=&-]*)?|mailto:[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+)$"
MIN_LOCKOUT_SECONDS = 10
MAX_LOCKOUT_SECONDS = 86400


def _fixed_seconds(value: Duration) -> int:
    try:
        return value.seconds
    except ValueError as err:
        raise ValueError(str(err)) from None


class AlertOverrides(Strict):
    """The inventory's alert thresholds (DEFAULTS["alerts"] for those it leaves out)."""

    after: DurationValue | None = None
    disk_percent: Annotated[int, Field(ge=50, le=99)] | None = None
    certificate_days: Annotated[int, Field(ge=1, le=90)] | None = None
    signature_age: DurationValue | None = None
    backup_age: DurationValue | None = None
    queue_size: Annotated[int, Field(ge=1, le=1000000)] | None = None
    login_failures: Annotated[int, Field(ge=5, le=1000000)] | None = None
    deferred_age: DurationValue | None = None

    @field_validator("after", "signature_age", "backup_age", "deferred_age")
    @classmethod
    def _fixed_length(cls, value: Duration | None):
        if value is not None and not (10 <= _fixed_seconds(value) <= 30 * 86400):
            raise ValueError(f"{value}: between 10 seconds and 30 days")
        return value


class Overrides(Strict):
    """What an inventory may change. Regulation values may only move within the regulation's bound."""

    quotas: dict[MailboxKind, SizeValue] = {}
    attachment_max: SizeValue | None = None
    lockout_failures: Annotated[int, Field(ge=3, le=20)] | None = None
    lockout_duration: DurationValue | None = None
    mail_host: Annotated[str, Field(pattern=HOSTNAME, max_length=253)] | None = None
    # ClamAV signatures, kept current by freshclam. By default ClamAV's official databases from ClamAV's own
    # mirrors; clamav_mirror: the operator's private mirror of them (freshclam PrivateMirror), e.g.
    # http://10.0.0.5/clamav; clamav_official: false fetches none of them; clamav_signature_urls: more
    # signature files, e.g. a CERT's (freshclam DatabaseCustomURL). A deploy that can fetch none of these
    # fails, unless clamav_without_signatures: true (clamd then runs on govmail's own signatures only).
    clamav_mirror: Annotated[str, Field(pattern=MIRROR_URL)] | None = None
    clamav_official: bool = True
    clamav_signature_urls: list[Annotated[str, Field(pattern=SIGNATURE_URL)]] = []
    clamav_without_signatures: bool = False
    # Where operators work from: never banned for failed logins, no postscreen tests.
    operator_networks: list[IPvAnyNetwork] = []
    # Hosts that may send mail in the province's own domains to port 25 without logging in (a scanner, an
    # application server). Everyone else must log in on 587/465 to use those domains.
    relays: list[IPvAnyNetwork] = []
    # Hosts that may reach slapd over the network (ldaps:// on 636, e.g. other govmail hosts). None by default:
    # slapd then answers on loopback and its local socket only.
    directory_peers: list[IPvAnyNetwork] = []
    # The mail host's public addresses for `govmail dns` (A/AAAA), when they are not the hosts.yml address.
    public_addresses: list[IPvAnyAddress] = []
    # The DNS resolver govmail asks (the operator's machine: `govmail dkim rotate`), when not the system's.
    resolver: IPvAnyAddress | None = None
    # The operator's help page (https://) or address (mailto:), linked from webmail's login page beside the
    # body the regulation names for support.
    support_url: Annotated[str, Field(pattern=SUPPORT_URL, max_length=500)] | None = None
    # The operator's logo on webmail's pages: a PNG, JPEG or SVG file on the operator's machine (a relative
    # path is read beside govmail.yml), at most 100 KB.
    webmail_logo: Path | None = None
    # MTA-STS (RFC 8461): "testing" asks other servers to report TLS failures only; "enforce" asks them to
    # deliver over verified TLS or not at all. Enforce only with a certificate other servers trust
    # (tls_certificate_file from a public CA), never govmail's internal one.
    mta_sts_mode: Literal["testing", "enforce"] = "testing"
    recipients_per_hour: Annotated[int, Field(ge=1, le=100000)] | None = None
    # The largest share of mailboxes (percent) one sweep may lock or revoke without --yes.
    sweep_max_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    recipients_per_message: Annotated[int, Field(ge=1, le=10000)] | None = None
    # Days before a password stops working on which its user is reminded (DEFAULTS["password_reminders"]); []: never.
    password_reminders: list[Annotated[int, Field(ge=1, le=60)]] | None = None
    spam_reject_score: PositiveInt | None = None
    spamd_children: PositiveInt | None = None
    # Certificates from the operator's own CA instead of govmail's internal one: PEM files on the
    # operator's machine (a relative path is beside govmail.yml), the certificate file holding the full chain.
    tls_certificate_file: Path | None = None
    tls_key_file: Path | None = None
    # Backups: the host of the restic repositories, restic's REST server that govmail's `backup` role runs
    # there (every mail host keeps its own repository in it). None: nothing is backed up (the deploy says so).
    backup_target: Annotated[str, Field(pattern=BACKUP_HOST, max_length=253)] | None = None
    backup_keep: dict[Literal["daily", "weekly", "monthly"], Annotated[int, Field(ge=1, le=1000)]] = {}
    backup_schedule: Annotated[str, Field(pattern=CALENDAR)] | None = None
    # Logs: how long rotated log files and the journal are kept (at least 30 days), and the journal's cap.
    log_retention: DurationValue | None = None
    journal_max_use: SizeValue | None = None
    # Monitoring: alert thresholds (see DEFAULTS["alerts"]) and how long Prometheus keeps its metrics.
    alerts: AlertOverrides = AlertOverrides()
    metrics_retention: DurationValue | None = None
    # Several stores: how often each copies its mailboxes to its partner (see DEFAULTS["store_copy_every"]).
    store_copy_every: DurationValue | None = None

    @field_validator("store_copy_every")
    @classmethod
    def _copy_interval(cls, value: Duration | None):
        if value is not None and not (60 <= _fixed_seconds(value) <= 86400):
            raise ValueError(f"{value}: a store copies its mailboxes to its partner between every minute and daily")
        return value

    @field_validator("metrics_retention")
    @classmethod
    def _metrics_kept(cls, value: Duration | None):
        if value is not None and not (86400 <= _fixed_seconds(value) <= 5 * 365 * 86400):
            raise ValueError(f"{value}: Prometheus keeps its metrics between a day and 5 years")
        return value

    @field_validator("log_retention")
    @classmethod
    def _long_enough(cls, value: Duration | None):
        if value is not None and (value.unit == "working_days" or retention_days(value) < MIN_LOG_DAYS):
            raise ValueError(f"{value}: logs are kept at least {MIN_LOG_DAYS} days (in days, months or years)")
        return value

    @field_validator("journal_max_use")
    @classmethod
    def _journal_room(cls, value: Size | None):
        if value is not None and (value.unlimited or value.bytes < 100 * 2**20):
            raise ValueError(f"{value.text}: give the journal between 100MB and the disk's size")
        return value

    @field_validator("lockout_duration")
    @classmethod
    def _bounded_lock(cls, value: Duration | None):
        if value is not None and not (MIN_LOCKOUT_SECONDS <= _fixed_seconds(value) <= MAX_LOCKOUT_SECONDS):
            raise ValueError(f"{value}: a failure lock lasts between {MIN_LOCKOUT_SECONDS} seconds and a day")
        return value

    @model_validator(mode="after")
    def _tls_pair(self):
        given = [p for p in (self.tls_certificate_file, self.tls_key_file) if p is not None]
        if len(given) == 1:
            raise ValueError("tls_certificate_file and tls_key_file go together")
        return self


    @model_validator(mode="after")
    def _signature_source(self):
        if self.clamav_mirror and not self.clamav_official:
            raise ValueError("clamav_mirror mirrors ClamAV's official databases, which clamav_official: false "
                             "switches off")
        if not (self.clamav_official or self.clamav_signature_urls or self.clamav_without_signatures):
            raise ValueError("no ClamAV signature source: with clamav_official: false, list "
                             "clamav_signature_urls, or accept running without them (clamav_without_signatures: "
                             "true)")
        return self


class Inventory(Strict):
    province: str
    overrides: Overrides = Overrides()


def encoded_message_size(attachment_bytes: int) -> int:
    """Bytes an attachment of this size takes inside a message (base64 with CRLF line ends)."""
    encoded = 4 * math.ceil(attachment_bytes / 3)
    return encoded + 2 * math.ceil(encoded / BASE64_LINE)


def message_size_limit(attachment_bytes: int) -> int:
    return encoded_message_size(attachment_bytes) + MESSAGE_HEADROOM


def base_dn(domain: str) -> str:
    return ",".join(f"dc={label}" for label in domain.split("."))


@dataclass(frozen=True)
class ProjectRules:
    """What no regulation sets and govmail sets the same for every province (the constants above say why).
    Templates read them here, through the settings, like every other value."""
    failure_window_seconds: int = FAILURE_WINDOW_SECONDS
    failure_delay_seconds: int = FAILURE_DELAY_SECONDS
    grace_logins: int = GRACE_LOGINS
    expire_warning_seconds: int = EXPIRE_WARNING_SECONDS
    password_history: int = PASSWORD_HISTORY
    password_hash: Argon2Cost = PASSWORD_HASH
    message_headroom: int = MESSAGE_HEADROOM
    source: str = "project default"

    @property
    def smtp_client_limits(self) -> dict[str, int]:
        return dict(SMTP_CLIENT_LIMITS)


CLASS_NAMES_VI = {"upper": "chữ hoa", "lower": "chữ thường", "digit": "chữ số", "special": "ký tự đặc biệt"}


@dataclass(frozen=True)
class PasswordPolicy:
    """One ppolicy entry (users or administrators) and the ppm quality rule it carries."""

    name: str
    min_length: int
    max_age: Duration
    must_change: bool
    max_failures: int
    lockout_seconds: int
    max_idle_seconds: int | None
    classes: list[str]
    specials: str
    check_attributes: list[str]

    @property
    def max_age_seconds(self) -> int:
        return self.max_age.seconds

    @property
    def class_chars(self) -> dict[str, str]:
        return {c: CLASS_CHARS.get(c, self.specials) for c in self.classes}

    @property
    def rule_vi(self) -> str:
        """The rule as users read it, in Vietnamese (webmail's password page, refusals)."""
        classes = ", ".join(CLASS_NAMES_VI[c] for c in self.classes)
        text = f"Mật khẩu phải có ít nhất {self.min_length} ký tự, gồm {classes}"
        if "special" in self.classes and len(self.specials) < 20:
            text += f" ({' '.join(self.specials)})"
        return text + "."


@dataclass(frozen=True)
class Quota:
    kind: str
    label: str
    bytes: int | None            # None: unlimited
    source: str


@dataclass(frozen=True)
class SpamPolicy:
    tag_score: float
    reject_score: int
    children: int


@dataclass(frozen=True)
class Defences:
    """What stands between the host and the internet, beyond the regulation."""
    operator_networks: list[str]         # never banned, no postscreen tests
    relays: list[str]                    # may use the province's domains on port 25 without logging in
    directory_peers: list[str]           # may reach slapd's ldaps:// listener
    recipients_per_hour: int             # recipients a logged-in sender may reach in an hour
    recipients_per_message: int
    ban: "Ban"


@dataclass(frozen=True)
class SignatureSources:
    """Where freshclam fetches ClamAV's signatures from."""
    official: bool                       # ClamAV's main, daily and bytecode databases
    mirror: str | None                   # the operator's private mirror of those (else ClamAV's own)
    urls: tuple[str, ...]                # further signature files
    optional: bool                       # a deploy that fetches none of them goes on (with a warning)

    @property
    def any(self) -> bool:
        return self.official or bool(self.urls)


def retention_days(value: Duration) -> int:
    """Days in this long at its longest, whichever month it starts in (a leap year's February included): a
    log kept that many days is kept this long whenever it was written."""
    starts = [dt.datetime(2000 + month // 12, month % 12 + 1, 1) for month in range(48)]
    return max((value.after(start) - start).days for start in starts)


@dataclass(frozen=True)
class LogPolicy:
    """How long the host keeps its logs, and the journal's cap."""
    retention_days: int
    journal_max_bytes: int
    source: str                          # "project default" or the inventory's override


@dataclass(frozen=True)
class Logo:
    """The operator's logo (inventory webmail_logo): its type and bytes, in base64 for the webmail's config."""
    mime: str
    base64: str


LOGO_MAX_BYTES = 100 * 1024
LOGO_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def inventory_file(field: str, path: Path, inventory: str | None) -> Path:
    """A file the inventory names: a relative path is read beside its govmail.yml (wherever govmail runs);
    it must exist."""
    if not path.is_absolute() and inventory:
        path = Path(inventory) / path
    if not path.is_file():
        raise BadInput(f"overrides.{field}: no such file: {path}")
    return path


def operator_tls_files(overrides: "Overrides", inventory: str | None) -> tuple[Path, Path] | None:
    if overrides.tls_certificate_file is None:
        return None
    return (inventory_file("tls_certificate_file", overrides.tls_certificate_file, inventory),
            inventory_file("tls_key_file", overrides.tls_key_file, inventory))


def webmail_logo(path: Path | None, inventory: str | None) -> Logo | None:
    """The inventory's logo file, read and checked: it exists, is small, and is an image webmail can show."""
    if path is None:
        return None
    path = inventory_file("webmail_logo", path, inventory)
    data = path.read_bytes()
    if len(data) > LOGO_MAX_BYTES:
        raise BadInput(f"overrides.webmail_logo: {path} is {len(data)} bytes; a logo is at most "
                       f"{LOGO_MAX_BYTES // 1024} KB")
    mime = next((m for magic, m in LOGO_MAGIC.items() if data.startswith(magic)), None)
    if mime is None and b"<svg" in data[:2048] and data.lstrip()[:1] == b"<":
        mime = "image/svg+xml"
    if mime is None:
        raise BadInput(f"overrides.webmail_logo: {path} is not a PNG, JPEG or SVG image")
    return Logo(mime, base64.b64encode(data).decode())


@dataclass(frozen=True)
class Reminders:
    """On which days before a password stops working its user hears of it, most distant first."""
    days: tuple[int, ...]
    source: str                          # "project default" or "inventory"


@dataclass(frozen=True)
class AlertPolicy:
    """When the monitoring mails the operators: each fault's threshold, and how long it must last."""
    after_seconds: int                   # Prometheus's `for:` of every alert
    disk_percent: int
    certificate_days: int
    signature_age_seconds: int
    backup_age_seconds: int
    queue_size: int
    login_failures: int                  # in 10 minutes
    deferred_age_seconds: int            # the oldest message in Postfix's deferred queue
    metrics_retention_days: int
    # The regulation's deadline for reporting an incident ("8 giờ") and its article, where it sets one.
    incident_report: tuple[str, str] | None


@dataclass(frozen=True)
class BackupPlan:
    """Where and when a mail host's backups go (restic to the backup host's REST server), and how many
    snapshots the backup host keeps."""
    target: str                          # the repository's host (govmail's REST server for backups)
    keep: dict[str, int]                 # snapshots kept by restic forget: daily, weekly, monthly
    schedule: str                        # systemd OnCalendar
    # The address the backup host's firewall admits to the REST server: the inventory's mail host. None when
    # there is no hosts.yml to read it from (rendering only): then only the backup host itself is admitted.
    client_address: str | None = None


@dataclass(frozen=True)
class FloatingAddress:
    """The users' one address (mail.<domain>) over several front hosts: VRRP (keepalived) moves it to another
    front when the one holding it stops; from hosts.yml's group `front` and its vars."""
    address: str                         # an IPv4 address on the fronts' network, no host's own
    interface: str                       # the network interface it is added to on each front
    fronts: tuple[str, ...]              # the fronts apart from the mail host, by hosts.yml name


@dataclass(frozen=True)
class DirectoryProvider:
    """One slapd of a multi-provider directory: its server ID, and the URL the other providers replicate from
    (slapd finds its own ID by matching that URL against its listeners and its host name); on a deployment,
    also its host's name (in slapd's certificate) and address (admitted by the other providers' firewalls)."""
    server_id: int
    url: str
    name: str = ""
    address: str | None = None


@dataclass(frozen=True)
class Ban:
    """fail2ban: an address that failed `after` logins within the window is shut out for `minutes`."""
    after: int
    window_minutes: int
    minutes: int


@dataclass(frozen=True)
class Settings:
    profile: Profile
    inventory: str | None
    domain: str
    mail_host: str
    webmail_aliases: list[str]
    base_dn: str
    protocols: list[str]
    quotas: dict[str, Quota]
    attachment_max_bytes: int
    message_size_limit: int
    policies: dict[str, PasswordPolicy]
    issued_min_length: int
    forward_allowed_domains: list[str] | None
    blocked_extensions: list[str]
    encrypted_archives_restricted: bool
    locked_still_receives: bool
    notify_agency: bool                  # the agency's mailbox hears of each lock and revocation
    sweep_max_percent: int               # a sweep doing more than this share of mailboxes asks for --yes
    display_name: str
    spam: SpamPolicy
    defences: Defences
    signatures: SignatureSources = SignatureSources(True, None, (), False)
    rules: ProjectRules = ProjectRules()
    tls_files: tuple[Path, Path] | None = None      # (certificate chain, key) supplied by the operator
    public_addresses: tuple[str, ...] = ()          # mail.<domain>'s A/AAAA (govmail dns)
    resolver: str | None = None                     # the DNS resolver govmail asks, when not the system's
    mta_sts_mode: str = "testing"
    support_url: str | None = None                  # webmail's "support" link (inventory)
    logo: Logo | None = None                        # webmail's logo (inventory); None: Roundcube's
    backup: BackupPlan | None = None                # None: no backup target in the inventory
    # Two or more: the directory is replicated between these slapd (multi-provider): the mail host's and those
    # of the hosts in group `directory` of hosts.yml; none: one slapd, the mail host's.
    directory_providers: tuple[DirectoryProvider, ...] = ()
    # Where mailboxes live: the hosts of group `store` of hosts.yml, by name (Dovecot's proxy resolves it),
    # else the mail host alone. A new mailbox goes to its agency's store, else to the least used.
    stores: tuple[str, ...] = ()
    # The other hosts that receive the province's mail from the internet (group `mx` of hosts.yml, each a
    # directory host too), by name: each runs Postfix with the whole filter chain and its own queue, and hands
    # what it accepts to the mail host's Dovecot over LMTP. None: the mail host alone is the MX.
    mx_hosts: tuple[str, ...] = ()
    # The users' entry on several hosts: the mail host and the front hosts apart (group `front` of hosts.yml,
    # each a store and an MX host), one floating address among them. None: the mail host alone, at its own address.
    floating: FloatingAddress | None = None
    store_copy_seconds: int = DEFAULTS["store_copy_every"].seconds     # the partner copies' interval
    # The address the inventory's `monitor` host connects from (Prometheus and Alertmanager run there); None:
    # they run on the mail host, all on loopback.
    monitor_address: str | None = None
    logs: LogPolicy = LogPolicy(retention_days(DEFAULTS["log_retention"]), DEFAULTS["journal_max_use"].bytes,
                                "project default")
    alerts: AlertPolicy | None = None               # always set by build()
    reminders: Reminders = Reminders(tuple(DEFAULTS["password_reminders"]), "project default")

    @property
    def province(self) -> str:
        return self.profile.province

    @property
    def attachment_mib(self) -> float | int:
        """The largest attachment in MiB as users read it (20, or 2.5)."""
        mib = self.attachment_max_bytes / 2**20
        return round(mib, 1) if self.attachment_max_bytes % 2**20 else self.attachment_max_bytes // 2**20

    @property
    def default_quota_bytes(self) -> int:
        """The quota of a mailbox that names none: the personal kind's, else the first kind's (0: unlimited)."""
        return self.quotas.get("personal", next(iter(self.quotas.values()))).bytes or 0

    @property
    def store_names(self) -> tuple[str, ...]:
        """The stores a mailbox may name, the first one holding those that name none."""
        return self.stores or (self.mail_host,)

    @property
    def stores_apart(self) -> tuple[str, ...]:
        """The stores other than the mail host (listed first, see stores()): the mail host's Dovecot proxies
        their mailboxes' logins and deliveries there. None: every mailbox is on the mail host."""
        return self.stores[1:]

    def provider_addresses(self, names) -> dict[str, str]:
        """These hosts apart from the mail host (each a directory provider) by name, with their hosts.yml address."""
        providers = {p.name: p.address for p in self.directory_providers}
        return {name: providers[name] for name in names}

    @property
    def mx_addresses(self) -> dict[str, str]:
        """Each MX host apart by name, with its address in hosts.yml: the address its DNS record gives, and the
        one the mail host's and the stores' firewalls admit."""
        return self.provider_addresses(self.mx_hosts)

    @property
    def front_addresses(self) -> dict[str, str]:
        """Each front host apart by name, with its address in hosts.yml."""
        return self.provider_addresses(self.floating.fronts if self.floating else ())

    @property
    def store_partners(self) -> dict[str, str]:
        """With stores apart: each store's partner, which holds a copy of its mailboxes (the next store in the
        inventory's order, the last one's the first)."""
        if not self.stores_apart:
            return {}
        return {store: self.stores[(n + 1) % len(self.stores)] for n, store in enumerate(self.stores)}

    @property
    def mta_sts_host(self) -> str:
        """Where other mail servers read the MTA-STS policy (RFC 8461 §3.3)."""
        return f"mta-sts.{self.domain}"

    @property
    def autoconfig_host(self) -> str:
        """Where mail programs (Thunderbird and others) read the account settings."""
        return f"autoconfig.{self.domain}"

    @property
    def web_names(self) -> list[str]:
        """Every name the mail host answers HTTPS for: its certificate covers them all."""
        return [self.mail_host, *self.webmail_aliases, self.domain, self.mta_sts_host, self.autoconfig_host]

    @property
    def admin_dn(self) -> str:
        """The directory's root DN: root on the mail host over ldapi://, nobody else."""
        return f"cn=admin,{self.base_dn}"

    def due_date(self, received: dt.date, deadline: Duration) -> dt.date:
        """When something received on `received` is due under a profile deadline."""
        return deadline.after(dt.datetime.combine(received, dt.time())).date()

    def provisioning_due(self, received: dt.date) -> dt.date | None:
        deadline = self.profile.operations.provisioning_deadline.value
        return None if deadline is None else self.due_date(received, deadline)


def _value(cited, default):
    return default if cited.value is None else cited.value


def quota_for(kind: str, profile: Profile, override: Size | None) -> Quota:
    """The quota of a kind of mailbox: the override if the regulation's bound allows it."""
    box = profile.mailboxes[kind]
    rule = box.quota.value
    if override is None:
        chosen = rule or DEFAULTS["quota"]
    elif rule is not None and not rule.allows(override):
        raise BadInput(f"overrides.quotas.{kind}: {override.text} breaks the regulation's "
                       f"'{rule.text}' ({box.quota.source})")
    else:
        chosen = override
    return Quota(kind, box.label, chosen.bytes, box.quota.source or "project default")


def _attachment_bytes(profile: Profile, override: Size | None) -> int:
    cited = profile.attachments.max_size
    if override is not None and cited.value is not None:
        raise BadInput(f"overrides.attachment_max: the regulation sets {cited.value.text} ({cited.source}); "
                       "change the profile, not the inventory")
    return (override or cited.value or DEFAULTS["attachment_max"]).bytes


def _policy(name: str, profile: Profile, overrides: Overrides) -> PasswordPolicy:
    pw, idle = profile.password, profile.inactivity
    users_len = _value(pw.min_length.users, DEFAULTS["password_min_length"])
    users_age = _value(pw.max_age.users, DEFAULTS["password_max_age"])
    min_length = users_len if name == "users" else _value(pw.min_length.administrators, users_len)
    max_age = users_age if name == "users" else _value(pw.max_age.administrators, users_age)
    login_idle = idle.activity.value == "login" and idle.lock_after.value is not None
    personal = _value(pw.forbid_personal_data, [])
    return PasswordPolicy(
        name=name,
        min_length=min_length,
        max_age=max_age,
        must_change=_value(pw.change_at_first_login, DEFAULTS["change_at_first_login"]),
        max_failures=overrides.lockout_failures or _value(pw.lockout_failures, DEFAULTS["lockout_failures"]),
        lockout_seconds=(overrides.lockout_duration or DEFAULTS["lockout_duration"]).seconds,
        max_idle_seconds=idle.lock_after.value.seconds if login_idle and name == "users" else None,
        classes=_value(pw.classes, DEFAULTS["password_classes"]),
        specials=_value(pw.specials, PUNCTUATION),
        check_attributes=[a for item in personal for a in PERSONAL_DATA_ATTRIBUTES[item]],
    )


def _forward_domains(profile: Profile, domain: str) -> list[str] | None:
    rule = profile.forwarding.automatic.value
    return {None: None, "government_only": [GOVERNMENT_DOMAIN], "province_only": [domain]}[rule]


def build(profile: Profile, overrides: Overrides | None = None, inventory: str | None = None) -> Settings:
    overrides = overrides or Overrides()
    unknown = set(overrides.quotas) - set(profile.mailboxes)
    if unknown:
        raise BadInput(f"overrides.quotas: {', '.join(sorted(unknown))}: no such mailbox kind in "
                       f"{profile.province} (kinds: {', '.join(profile.mailboxes)})")
    domain = profile.mail.domain.value
    attachment = _attachment_bytes(profile, overrides.attachment_max)
    pw = profile.password
    users = _policy("users", profile, overrides)
    return Settings(
        profile=profile,
        inventory=inventory,
        domain=domain,
        mail_host=overrides.mail_host or _value(profile.mail.webmail_host, f"mail.{domain}"),
        webmail_aliases=_value(profile.mail.webmail_aliases, []),
        base_dn=base_dn(domain),
        protocols=_value(profile.mail.client_protocols, DEFAULTS["client_protocols"]),
        quotas={k: quota_for(k, profile, overrides.quotas.get(k)) for k in profile.mailboxes},
        attachment_max_bytes=attachment,
        message_size_limit=message_size_limit(attachment),
        policies={"users": users, "administrators": _policy("administrators", profile, overrides)},
        issued_min_length=_value(pw.issued_min_length, max(users.min_length, DEFAULTS["issued_min_length"])),
        forward_allowed_domains=_forward_domains(profile, domain),
        blocked_extensions=_value(profile.attachments.blocked_extensions, []),
        encrypted_archives_restricted=profile.attachments.encrypted_archives.value == "restricted",
        locked_still_receives=_value(profile.inactivity.locked_still_receives, DEFAULTS["locked_still_receives"]),
        notify_agency=_value(profile.inactivity.notify_agency, DEFAULTS["notify_agency"]),
        sweep_max_percent=overrides.sweep_max_percent or DEFAULTS["sweep_max_percent"],
        display_name=_value(profile.naming.display_name, DEFAULTS["display_name"]),
        spam=SpamPolicy(DEFAULTS["spam_tag_score"], overrides.spam_reject_score or DEFAULTS["spam_reject_score"],
                        overrides.spamd_children or DEFAULTS["spamd_children"]),
        defences=Defences([str(n) for n in overrides.operator_networks], [str(n) for n in overrides.relays],
                          [str(n) for n in overrides.directory_peers],
                          overrides.recipients_per_hour or DEFAULTS["recipients_per_hour"],
                          overrides.recipients_per_message or DEFAULTS["recipients_per_message"],
                          # one failure fewer than locks a mailbox: the address goes first
                          Ban(users.max_failures - 1, FAILURE_WINDOW_SECONDS // 60, DEFAULTS["ban_minutes"])),
        signatures=SignatureSources(overrides.clamav_official, overrides.clamav_mirror,
                                    tuple(overrides.clamav_signature_urls), overrides.clamav_without_signatures),
        tls_files=operator_tls_files(overrides, inventory),
        public_addresses=tuple(str(a) for a in overrides.public_addresses),
        resolver=str(overrides.resolver) if overrides.resolver else None,
        mta_sts_mode=overrides.mta_sts_mode,
        support_url=overrides.support_url,
        logo=webmail_logo(overrides.webmail_logo, inventory),
        backup=_backup_plan(overrides, inventory),
        monitor_address=host_address(inventory, "monitor", "the mail host"),
        directory_providers=directory_providers(inventory),
        stores=stores(inventory),
        mx_hosts=mx_hosts(inventory, overrides),
        floating=floating_address(inventory),
        store_copy_seconds=(overrides.store_copy_every or DEFAULTS["store_copy_every"]).seconds,
        logs=LogPolicy(retention_days(overrides.log_retention or DEFAULTS["log_retention"]),
                       (overrides.journal_max_use or DEFAULTS["journal_max_use"]).bytes,
                       "inventory" if overrides.log_retention else "project default"),
        alerts=_alert_policy(profile, overrides),
        reminders=_reminders(overrides.password_reminders),
    )


def _alert_policy(profile: Profile, overrides: Overrides) -> AlertPolicy:
    given = {k: getattr(overrides.alerts, k) for k in AlertOverrides.model_fields
             if getattr(overrides.alerts, k) is not None}
    chosen = {**DEFAULTS["alerts"], **given}
    incident = profile.operations.incident_report
    deadline = (incident.value.vietnamese, incident.source) if incident.value is not None else None
    retention = overrides.metrics_retention or DEFAULTS["metrics_retention"]
    return AlertPolicy(chosen["after"].seconds, chosen["disk_percent"], chosen["certificate_days"],
                       chosen["signature_age"].seconds, chosen["backup_age"].seconds,
                       chosen["queue_size"], chosen["login_failures"], chosen["deferred_age"].seconds,
                       retention.seconds // 86400, deadline)


def _reminders(given: list[int] | None) -> Reminders:
    """The inventory's days ([] for no reminders), else the project's."""
    days = DEFAULTS["password_reminders"] if given is None else given
    return Reminders(tuple(sorted(set(days), reverse=True)), "project default" if given is None else "inventory")


def host_address(inventory: str | None, group: str, admitted_by: str) -> str | None:
    """The IP address of the first host of `group` in the inventory's hosts.yml (its ansible_host), which
    another host's firewall admits; None without such a host."""
    found = reach.inventory_host(Path(inventory), group) if inventory else None
    if not found:
        return None
    try:
        return str(ipaddress.ip_address(found.address))
    except ValueError:
        raise BadInput(f"{inventory}/hosts.yml: the {group} host's ansible_host is {found.address!r}: give its IP "
                       f"address ({admitted_by} admits it by address)") from None


def directory_providers(inventory: str | None) -> tuple[DirectoryProvider, ...]:
    """With hosts in group `directory` of hosts.yml: the mail host (provider 1, which loads the tree) and
    each of them, named as in hosts.yml (their FQDN: slapd finds its own server ID by it) and by address."""
    found = reach.inventory_hosts(Path(inventory), "directory") if inventory else []
    if not found:
        return ()
    mail = reach.inventory_hosts(Path(inventory), "mail")
    if not mail:
        raise BadInput(f"{inventory}/hosts.yml: hosts in group directory replicate the mail host's directory, "
                       "and group mail names none")
    providers = []
    for server_id, (name, target) in enumerate([mail[0], *found], 1):
        try:
            address = str(ipaddress.ip_address(target.address))
        except ValueError:
            raise BadInput(f"{inventory}/hosts.yml: host {name}'s ansible_host is {target.address!r}: give its IP "
                           "address (the other directory providers admit it by address)") from None
        providers.append(DirectoryProvider(server_id, f"ldaps://{name}/", name, address))
    return tuple(providers)


def stores(inventory: str | None) -> tuple[str, ...]:
    """The hosts of group `store` by their hosts.yml name, the mail host first; without any, the mail host's
    name there (none without an inventory's hosts.yml: the mail host's FQDN stands for it, see
    Settings.store_names). Each other store must be a directory provider too: its Dovecot reads the directory
    from its own slapd, so its users' logins do not depend on another host."""
    if not inventory:
        return ()
    mail = [name for name, _ in reach.inventory_hosts(Path(inventory), "mail")[:1]]
    found = [name for name, _ in reach.inventory_hosts(Path(inventory), "store")] or mail
    apart = [name for name in found if name not in mail]
    directory = {name for name, _ in reach.inventory_hosts(Path(inventory), "directory")}
    if lacking := [name for name in apart if name not in directory]:
        raise BadInput(f"{inventory}/hosts.yml: store host(s) {', '.join(lacking)} must be in group directory too "
                       "(a store reads the directory from its own slapd); add them there")
    if apart and found[0] not in mail:
        raise BadInput(f"{inventory}/hosts.yml: group store must list the mail host first (the mailboxes made "
                       "before stores, which name none, are there)")
    return tuple(found)


def mx_hosts(inventory: str | None, overrides: Overrides) -> tuple[str, ...]:
    """The hosts of group `mx` other than the mail host, by their hosts.yml name (their FQDN: it is their MX
    record's target and the name their certificate carries). Each must be a directory provider too: its Postfix
    looks recipients up in its own slapd, so mail is accepted while another host is down."""
    if not inventory:
        return ()
    mail = [name for name, _ in reach.inventory_hosts(Path(inventory), "mail")[:1]]
    found = [name for name, _ in reach.inventory_hosts(Path(inventory), "mx") if name not in mail]
    directory = {name for name, _ in reach.inventory_hosts(Path(inventory), "directory")}
    if lacking := [name for name in found if name not in directory]:
        raise BadInput(f"{inventory}/hosts.yml: MX host(s) {', '.join(lacking)} must be in group directory too "
                       "(an MX looks recipients up in its own slapd); add them there")
    if found and overrides.tls_certificate_file:
        raise BadInput(f"{inventory}/govmail.yml: tls_certificate_file covers the mail host alone, and MX hosts "
                       f"({', '.join(found)}) would present the inventory's own CA's certificates, which other "
                       "mail servers do not trust: not supported yet (leave group mx empty, or tls_certificate_file unset)")
    return tuple(found)


FRONT_VARS = {"floating_address", "floating_interface"}


def floating_address(inventory: str | None) -> FloatingAddress | None:
    """With hosts in group `front` of hosts.yml other than the mail host: the floating address and interface
    its vars give. Each front apart must be a store host (its Dovecot serves the logins) and an MX host (its
    Postfix takes the submissions), and the address an IPv4 address that is no host's own (keepalived adds it
    to the front that holds it)."""
    if not inventory:
        return None
    where = f"{inventory}/hosts.yml"
    hosts = {group: reach.inventory_hosts(Path(inventory), group)
             for group in ("mail", "directory", "store", "mx", "front")}
    mail = [name for name, _ in hosts["mail"][:1]]
    fronts = [name for name, _ in hosts["front"] if name not in mail]
    given = reach.inventory_group_vars(Path(inventory), "front")
    if not fronts:
        if given.keys() & FRONT_VARS:
            raise BadInput(f"{where}: group front has vars {', '.join(sorted(given.keys() & FRONT_VARS))} but no "
                           "host besides the mail host: list the other front hosts there, or remove the vars")
        return None
    for group, why in (("store", "its Dovecot serves the logins, proxying each to its mailbox's store"),
                       ("mx", "its Postfix takes the users' submissions on 587 and 465 with the whole filter chain")):
        members = {name for name, _ in hosts[group]}
        if lacking := [name for name in fronts if name not in members]:
            raise BadInput(f"{where}: front host(s) {', '.join(lacking)} must be in group {group} too ({why}); "
                           "add them there")
    try:
        address = ipaddress.IPv4Address(str(given.get("floating_address", "")))
    except ValueError:
        raise BadInput(f"{where}: group front needs vars: floating_address: the IPv4 address users reach "
                       f"{', '.join(mail)} and the other fronts by (got {given.get('floating_address')!r})") from None
    if str(address) in {target.address for found in hosts.values() for _, target in found}:
        raise BadInput(f"{where}: floating_address {address} is a host's own address; give one no host has")
    interface = str(given.get("floating_interface", "eth0"))
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", interface):
        raise BadInput(f"{where}: floating_interface {interface!r} is no network interface name")
    return FloatingAddress(str(address), interface, tuple(fronts))


def _backup_plan(overrides: Overrides, inventory: str | None) -> BackupPlan | None:
    if not overrides.backup_target:
        return None
    return BackupPlan(overrides.backup_target, {**DEFAULTS["backup_keep"], **overrides.backup_keep},
                      overrides.backup_schedule or DEFAULTS["backup_schedule"],
                      host_address(inventory, "mail", "the backup host"))


def load_inventory(directory: Path) -> Inventory:
    path = directory / "govmail.yml"
    if not path.is_file():
        raise BadInput(f"{path}: no inventory settings file (it names `province:` and optional `overrides:`)")
    try:
        return Inventory.model_validate(read_yaml(path))
    except ValidationError as err:
        raise BadInput(describe_errors(err, str(path))) from None


def load(province: str | None = None, inventory_dir: Path | None = None) -> Settings:
    """Settings for an inventory (its province unless `province` is given), or a bare profile."""
    inventory = load_inventory(inventory_dir) if inventory_dir else None
    chosen = province or (inventory.province if inventory else None)
    if not chosen:
        raise BadInput("no province: give --province or an inventory whose govmail.yml names one")
    overrides = inventory.overrides if inventory else None
    return build(load_profile(chosen), overrides, str(inventory_dir) if inventory_dir else None)
