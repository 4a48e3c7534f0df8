"""The directory as the lifecycle commands see it: one ldap3 connection, mailbox entries as Accounts.

govmail acts as the directory's root DN (cn=admin,<base>), which slapd grants to root on the mail host over
its ldapi:// socket (SASL EXTERNAL), forwarded through SSH. Note that slapd's root DN bypasses ppm's quality
checks, so govmail checks the passwords it issues itself (govmail.accounts.passwords).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import ldap3
from ldap3.core import exceptions as ldap_errors

from govmail import reach
from govmail.build.layout import LDAPS_PORT  # noqa: F401  (where clients reach slapd)
from govmail.errors import GovmailError
from govmail.model.settings import Settings

# Kind of mailbox -> the branch of the tree it lives in.
BRANCHES = {"personal": "people", "agency": "agencies", "unit": "units"}
REVOKED = "revoked"
# The Relax Rules control lets the root DN set operational attributes such as pwdLastSuccess.
RELAX = ("1.3.6.1.4.1.4203.666.5.12", True, None)
LDAPI_SOCKET = "/run/slapd/ldapi"
ATTRIBUTES = ["uid", "mail", "cn", "sn", "givenName", "displayName", "govmailMailboxKind", "govmailQuotaBytes",
              "govmailAlias", "govmailAgency", "govmailAccountStatus", "govmailLoginEnabled",
              "govmailReceiveEnabled", "govmailBirthDate", "govmailAudit", "govmailRequest", "govmailReceivedAt",
              "govmailLockedAt", "govmailLockReason", "govmailRevokedAt", "govmailRetainUntil", "govmailReminded",
              "govmailSearchName", "govmailStore", "createTimestamp", "pwdLastSuccess", "pwdChangedTime", "pwdReset", "pwdAccountLockedTime"]


class DirectoryUnreachable(GovmailError):
    exit_code = 4


class DirectoryRefused(GovmailError):
    """slapd said no: a policy, a constraint, a missing right."""

    exit_code = 5


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def gtime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%SZ")


@dataclass
class Account:
    dn: str
    uid: str
    mail: str
    kind: str
    name: str
    display: str
    quota_bytes: int
    agency_dn: str | None
    status: str
    login_enabled: bool
    receive_enabled: bool
    created: dt.datetime
    last_login: dt.datetime | None
    password_changed: dt.datetime | None
    must_change: bool
    locked_at: dt.datetime | None
    lock_reason: str | None
    revoked_at: dt.datetime | None
    retain_until: dt.datetime | None
    received_at: dt.datetime | None
    birth_date: str | None
    aliases: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)
    failure_locked_since: dt.datetime | None = None     # slapd's lock after failed passwords; ends by itself
    # The last password reminder: (the date the password stops working, how many days before it was sent).
    reminded: tuple[dt.datetime, int] | None = None
    search_name: str | None = None      # the name folded (no accents), which the address book searches
    store: str | None = None            # the store host holding it (None: made before stores, on the first)

    @property
    def live(self) -> bool:
        """An official's or agency's mailbox in use (locked or not): not revoked, not the operators' own."""
        return self.status not in ("revoked", "system")

    @property
    def failure_locked(self) -> bool:
        return self.failure_locked_since is not None

    @property
    def last_activity(self) -> dt.datetime:
        """Last login (slapd's lastbind: IMAP, POP3, submission and webmail all bind), else creation.
        Unlock and restore set pwdLastSuccess too, so they restart the count."""
        return self.last_login or self.created

    @classmethod
    def from_entry(cls, dn: str, attrs: dict) -> "Account":
        def one(name, parse=str, default=None):
            values = attrs.get(name) or []
            return parse(values[0]) if values else default

        return cls(
            dn=dn, uid=one("uid"), mail=one("mail"), kind=one("govmailMailboxKind"), name=one("cn"),
            display=one("displayName") or one("cn"), quota_bytes=one("govmailQuotaBytes", int, 0),
            agency_dn=one("govmailAgency"), status=one("govmailAccountStatus") or "active",
            login_enabled=one("govmailLoginEnabled", boolean, True),
            receive_enabled=one("govmailReceiveEnabled", boolean, True),
            created=one("createTimestamp", parse_gtime), last_login=one("pwdLastSuccess", parse_gtime),
            password_changed=one("pwdChangedTime", parse_gtime), must_change=one("pwdReset", boolean, False),
            locked_at=one("govmailLockedAt", parse_gtime), lock_reason=one("govmailLockReason"),
            revoked_at=one("govmailRevokedAt", parse_gtime), retain_until=one("govmailRetainUntil", parse_gtime),
            received_at=one("govmailReceivedAt", parse_gtime), birth_date=one("govmailBirthDate"),
            aliases=[str(v) for v in attrs.get("govmailAlias") or []],
            requests=[str(v) for v in attrs.get("govmailRequest") or []],
            audit=[json.loads(v) for v in attrs.get("govmailAudit") or []],
            failure_locked_since=one("pwdAccountLockedTime", parse_gtime),
            reminded=one("govmailReminded", parse_reminded), search_name=one("govmailSearchName"),
            store=one("govmailStore"))


def boolean(value) -> bool:
    return str(value).upper() == "TRUE"


def reminded_value(deadline: dt.datetime, days: int) -> str:
    return f"{gtime(deadline)} {days}"


def parse_reminded(value) -> tuple[dt.datetime, int]:
    deadline, days = str(value).split()
    return parse_gtime(deadline), int(days)


def parse_gtime(value) -> dt.datetime:
    """LDAP GeneralizedTime as slapd writes it: 20261123003953Z or with fractions 20261123003953.123Z."""
    text = str(value).rstrip("Z").split(".")[0]
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)


# ---- where the directory is ------------------------------------------------------------------------

def ssh_target(settings: Settings) -> reach.SshTarget:
    """The mail host as SSH reaches it: the inventory's first `mail` host, else mail.<domain> (your SSH
    configuration then says who logs in, with which key)."""
    found = reach.mail_host(Path(settings.inventory)) if settings.inventory else None
    return found or reach.SshTarget(settings.mail_host)


def provider_targets(settings: Settings) -> list[reach.SshTarget]:
    """Every provider of the directory as SSH reaches it, the mail host first: the inventory's `directory`
    hosts take writes too (multi-provider), so govmail falls back on them when the mail host does not answer."""
    others = reach.inventory_hosts(Path(settings.inventory), "directory") if settings.inventory else []
    return [ssh_target(settings), *(target for _, target in others)]


def monitoring_target(settings: Settings) -> reach.SshTarget:
    """Where Prometheus and Alertmanager run, as SSH reaches it: the inventory's `monitor` host, else the
    mail host."""
    found = reach.inventory_host(Path(settings.inventory), "monitor") if settings.inventory else None
    return found or ssh_target(settings)


def connect(settings: Settings, url: str | None = None, pipelined: bool = False) -> ldap3.Connection:
    """Bound as the directory's root DN, which slapd grants only to root on the mail host over ldapi://
    (SASL EXTERNAL; the root DN has no password, so nobody can bind as it from a network). Unless an ldapi://
    URL is given (--server, $GOVMAIL_LDAP_URL) SSH forwards the host's socket to a private local one (the
    SSH login must be root there); the tunnel lives as long as the connection (conn.tunnel). `pipelined`:
    ldap3's asynchronous strategy, for bulk writes that keep many requests in flight (each call returns a
    message id; get_response() collects it)."""
    url = url or os.environ.get("GOVMAIL_LDAP_URL")
    if url:
        conn = _bind(settings, url, pipelined)
        conn.tunnel = None
        return conn
    failures = []
    for target in provider_targets(settings):
        try:
            return _through(settings, target, pipelined)
        except GovmailError as error:
            failures.append(error)
    if len(failures) == 1:
        raise failures[0]
    raise DirectoryUnreachable("no provider of the directory answers: " + "; ".join(str(f) for f in failures))


def _through(settings: Settings, target: reach.SshTarget, pipelined: bool) -> ldap3.Connection:
    """Bound on that host's slapd, through an SSH forwarding of its ldapi:// socket."""
    tunnel = reach.Tunnel(target, LDAPI_SOCKET)
    try:
        conn = _bind(settings, "ldapi://" + quote(tunnel.path, safe=""), pipelined)
    except GovmailError:
        tunnel.close()
        raise
    conn.tunnel = tunnel
    return conn


def _bind(settings: Settings, url: str, pipelined: bool) -> ldap3.Connection:
    if not url.startswith("ldapi://"):
        raise DirectoryUnreachable(f"{url}: govmail acts on the directory as root on its host, over ldapi:// "
                                   "(the root DN cannot bind from a network); give an ldapi:// URL or none")
    server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5)
    try:
        # sasl_credentials "": an empty authorization identity (ldap3 sends none for None, which slapd
        # answers with "bind in progress").
        conn = ldap3.Connection(server, authentication=ldap3.SASL, sasl_mechanism=ldap3.EXTERNAL,
                                sasl_credentials="", raise_exceptions=False, receive_timeout=60,
                                client_strategy=ldap3.ASYNC if pipelined else ldap3.SYNC)
        conn.bind()
        # A pipelined connection follows a checked one to the same socket (ldap3 answers it asynchronously).
        whoami = f"dn:{settings.admin_dn}" if pipelined and conn.bound else conn.extend.standard.who_am_i()
    except ldap_errors.LDAPException as err:
        raise DirectoryUnreachable(f"directory {url} unreachable: {err}. Check the address (--server or "
                                   "GOVMAIL_LDAP_URL) and that slapd runs there.") from None
    admin = settings.admin_dn
    if (whoami or "").lower() != f"dn:{admin}".lower():
        raise DirectoryUnreachable(f"{url}: slapd took this connection for {whoami or 'anonymous'}, not {admin}: "
                                   f"is this the directory of {settings.domain}, and is the SSH login root there?")
    return conn


# ---- reading ----------------------------------------------------------------------------------------

def search(conn: ldap3.Connection, base: str, query: str, attributes=ATTRIBUTES) -> list[tuple[str, dict]]:
    """(dn, raw attributes) of every match, paged (slapd's size limit is 500)."""
    try:
        found = conn.extend.standard.paged_search(base, query, attributes=attributes, paged_size=1000,
                                                  generator=False)
    except ldap_errors.LDAPException as err:
        raise DirectoryUnreachable(f"search {query}: {err}") from None
    if conn.result["result"] not in (0, 32):      # 32: no such object (an empty branch)
        raise DirectoryRefused(f"search {query} failed: {conn.result['description']} {conn.result['message']}")
    return [(r["dn"], r["raw_attributes"]) for r in found if r.get("type") == "searchResEntry"]


def decode(raw: dict) -> dict[str, list[str]]:
    return {k: [v.decode() for v in values] for k, values in raw.items()}


def accounts(conn: ldap3.Connection, base_dn: str, query: str = "(objectClass=govmailMailbox)") -> list[Account]:
    return [Account.from_entry(dn, decode(raw)) for dn, raw in search(conn, base_dn, query)]


def check(conn: ldap3.Connection, ok: bool, what: str) -> None:
    if not ok:
        result = conn.result
        raise DirectoryRefused(f"{what}: the directory refused ({result['description']}"
                               f"{': ' + result['message'] if result['message'] else ''})")
