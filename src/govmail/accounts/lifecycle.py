"""The regulation's account procedures over LDAP: add, change, lock, unlock, revoke, restore, reset.

Every change is one LDAP operation carrying its own audit record (who, when, what, why, which request),
so a change and its record land together or not at all. Revoking moves the entry to ou=revoked and keeps
its address and its mail for the retention period: nothing is freed silently.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from govmail.accounts import passwords
from govmail.accounts.directory import (BRANCHES, RELAX, REVOKED, Account, accounts, check, decode, gtime,
                        now, search)
from govmail.errors import BadInput
from govmail.model import naming
from govmail.model.settings import DEFAULTS, Settings

KINDS = {"person": "personal", "agency": "agency", "unit": "unit"}   # CLI word -> mailbox kind
PASSWORD_REASONS = {"issued_password_kept", "password_unchanged", "password_expired"}


def replace(**values: str) -> dict:
    """LDAP modify changes setting each attribute to one value."""
    return {attr: [(ldap3.MODIFY_REPLACE, [value])] for attr, value in values.items()}


@dataclass(frozen=True)
class AddRequest:
    kind: str                              # person, agency or unit
    name: str
    agency: str | None = None              # the agency's address or name, for a person or unit
    birth_date: dt.date | None = None
    abbrev: str | None = None
    agency_abbrev: str | None = None
    address: str | None = None             # the operator's choice where the regulation leaves it to them
    request: str | None = None             # the request's number, recorded on the entry
    received: dt.date | None = None        # when the request arrived (provisioning deadline)


class AlreadyDone(BadInput):
    """A request the directory has already carried out (its number is on an entry)."""

    def __init__(self, request: str, holder: Account):
        super().__init__(f"duplicate request {request}: it was already carried out: {holder.mail}")
        self.request, self.holder = request, holder


@dataclass
class Planned:
    """An add worked out against the directory, not yet written."""

    dn: str
    address: str
    rule: str
    attributes: dict = field(repr=False)
    password: str = field(repr=False)


@dataclass
class Issued:
    address: str
    password: str = field(repr=False)
    dn: str
    name: str


@dataclass
class Lifecycle:
    settings: Settings
    conn: ldap3.Connection
    operator: str
    clock: Callable[[], dt.datetime] = now
    _taken: set[str] | None = field(default=None, repr=False)
    _members: dict[str, set[str]] | None = field(default=None, repr=False)
    _agencies: list[Account] | None = field(default=None, repr=False)
    _requests: set[str] | None = field(default=None, repr=False)
    _store_counts: dict[str, int] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return self.settings.base_dn

    # ---- what the directory holds (read once, kept up to date by our own writes) --------------------

    def _load_addresses(self) -> None:
        self._taken, self._members, self._requests = set(), {}, set()
        self._store_counts = dict.fromkeys(self.settings.store_names, 0)
        first = self.settings.store_names[0]
        for _, raw in search(self.conn, self.base, "(objectClass=govmailMailbox)",
                             ["mail", "govmailAlias", "govmailAgency", "govmailRequest", "govmailStore"]):
            attrs = decode(raw)
            store = (attrs.get("govmailStore") or [first])[0]
            self._store_counts[store] = self._store_counts.get(store, 0) + 1
            locals_ = {naming.local_part(a) for a in attrs.get("mail", []) + attrs.get("govmailAlias", [])}
            self._taken |= locals_
            for agency in attrs.get("govmailAgency", []):
                self._members.setdefault(agency.lower(), set()).update(locals_)
            self._requests |= {r.lower() for r in attrs.get("govmailRequest", [])}

    def taken(self) -> set[str]:
        if self._taken is None:
            self._load_addresses()
        return self._taken

    def same_agency(self, agency_dn: str) -> set[str]:
        if self._members is None:
            self._load_addresses()
        return self._members.get(agency_dn.lower(), set())

    def store_counts(self) -> dict[str, int]:
        """How many mailboxes each store holds (those naming none count on the first)."""
        if self._store_counts is None:
            self._load_addresses()
        return self._store_counts

    def store_for(self, agency: Account | None) -> str:
        """Where a new mailbox goes: its agency's store when the agency names one of the stores, else the store
        holding the fewest mailboxes (the inventory's order breaks ties)."""
        stores, counts = self.settings.store_names, self.store_counts()
        if agency and agency.store in stores:
            return agency.store
        return min(stores, key=lambda store: (counts.get(store, 0), stores.index(store)))

    def agencies(self) -> list[Account]:
        if self._agencies is None:
            self._agencies = accounts(self.conn, f"ou={BRANCHES['agency']},{self.base}")
        return self._agencies

    def find_agency(self, text: str) -> Account:
        wanted = naming.fold(" ".join(text.split()))
        for agency in self.agencies():
            if wanted in (naming.fold(agency.name), agency.uid, agency.mail.lower()):
                return agency
        known = ", ".join(f"{a.uid} ({a.name})" for a in self.agencies()[:8]) or "none yet"
        raise BadInput(f"unknown agency '{text}': add it first with `govmail account add --kind agency "
                       f"--name \"...\"` (known: {known})")

    def check_request(self, request: str | None) -> None:
        if not request:
            return
        if self._requests is None:
            self._load_addresses()
        if request.lower() in self._requests:
            holder = accounts(self.conn, self.base, f"(govmailRequest={escape_filter_chars(request)})")
            if holder:
                raise AlreadyDone(request, holder[0])
            raise BadInput(f"duplicate request {request}: it was already carried out earlier in this batch")

    def find(self, address: str) -> Account:
        text = escape_filter_chars(address.strip().lower())
        query = (f"(&(objectClass=govmailMailbox)(|(mail={text})(govmailAlias={text})))" if "@" in text
                 else f"(&(objectClass=govmailMailbox)(uid={text}))")
        found = accounts(self.conn, self.base, query)
        if not found:
            raise BadInput(f"no mailbox '{address}' in {self.settings.domain}'s directory")
        return found[0]

    def remember_reminder(self, account: Account, value: str) -> None:
        """The last password reminder sent (not an account change: no audit record)."""
        check(self.conn, self.conn.modify(account.dn, replace(govmailReminded=value)),
              f"record the reminder to {account.mail}")

    def refold_name(self, account: Account) -> None:
        """The name the address book searches without accents, from the entry's name (an index, not an
        account change: no audit record)."""
        check(self.conn, self.conn.modify(account.dn, replace(govmailSearchName=naming.fold(account.name))),
              f"fold the name of {account.mail}")

    # ---- the audit record ---------------------------------------------------------------------------

    def _audit(self, action: str, request: str | None, reason: str | None, **extra) -> str:
        record = {"at": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"), "by": self.operator, "action": action}
        record.update({k: v for k, v in (("request", request), ("reason", reason), *extra.items()) if v})
        return json.dumps(record, ensure_ascii=False, sort_keys=True)

    def _modify(self, account: Account, changes: dict, action: str, request: str | None, reason: str | None,
                **extra) -> None:
        self.check_request(request)
        changes = dict(changes)
        changes["govmailAudit"] = [(ldap3.MODIFY_ADD, [self._audit(action, request, reason, **extra)])]
        if request:
            changes["govmailRequest"] = [(ldap3.MODIFY_ADD, [request])]
        relax = any(k.startswith("pwd") for k in changes)
        check(self.conn, self.conn.modify(account.dn, changes, controls=[RELAX] if relax else None),
              f"{action} {account.mail}")
        if request:
            self._requests.add(request.lower())

    # ---- add -------------------------------------------------------------------------------------

    def _address(self, req: AddRequest, agency: Account | None) -> tuple[str, str]:
        """(local part, rule that gave it)."""
        taken = self.taken()
        if req.address:
            local = naming.local_part(req.address)
            if "@" in req.address and not req.address.lower().endswith("@" + self.settings.domain):
                raise BadInput(f"address {req.address} is not in {self.settings.domain}")
            if local in taken:
                raise BadInput(f"address {local}@{self.settings.domain} is already in use (revoked ones stay "
                               "reserved)")
            return naming.check_local_part(local), "operator"
        request = naming.Request(req.kind, req.name, agency.name if agency else None, req.abbrev,
                                 req.agency_abbrev, req.birth_date)
        same = self.same_agency(agency.dn) if agency else set()
        found = naming.suggest_local(self.settings.profile.naming, self.settings.domain, request, taken, same)
        return found.local_part, found.rule

    def _display_name(self, name: str, agency: Account | None) -> str:
        if self.settings.display_name == "full_name_and_agency" and agency:
            return f"{name} - {agency.name}"
        return name

    def plan_add(self, req: AddRequest) -> Planned:
        """Everything an add needs, checked against the directory; raises before anything is written."""
        kind = KINDS.get(req.kind)
        if kind is None:
            raise BadInput(f"unknown mailbox kind '{req.kind}' (person, agency or unit)")
        if kind not in self.settings.quotas:
            raise BadInput(f"{self.settings.province} has no {kind} mailboxes")
        self.check_request(req.request)
        name = " ".join(naming.nfc(req.name).split())
        agency = None
        if kind != "agency":
            if not req.agency:
                raise BadInput(f"a {req.kind} mailbox belongs to an agency: give --agency (its address or name)")
            agency = self.find_agency(req.agency)
        local, rule = self._address(req, agency)
        words = name.split()
        attributes = {
            "objectClass": ["inetOrgPerson", "govmailMailbox"],
            "uid": local, "mail": f"{local}@{self.settings.domain}", "cn": name,
            "sn": words[0] if kind == "personal" else name,
            "displayName": self._display_name(name, agency),
            "govmailSearchName": naming.fold(name),
            "govmailMailboxKind": kind,
            "govmailQuotaBytes": str(self.settings.quotas[kind].bytes or 0),
            "govmailAccountStatus": "active",
            "govmailAudit": self._audit("add", req.request, None, rule=rule,
                                        received=req.received.isoformat() if req.received else None),
        }
        if kind == "personal" and len(words) > 1:
            attributes["givenName"] = words[-1]
        if agency:
            attributes["govmailAgency"] = agency.dn
        attributes["govmailStore"] = self.store_for(agency)
        if req.birth_date:
            attributes["govmailBirthDate"] = req.birth_date.isoformat()
        if req.request:
            attributes["govmailRequest"] = req.request
        if req.received:
            attributes["govmailReceivedAt"] = gtime(dt.datetime.combine(req.received, dt.time(),
                                                                        dt.timezone.utc))
        personal = naming.person_words(name) if kind == "personal" else []
        if req.birth_date:
            personal += [req.birth_date.strftime(f) for f in ("%d%m%Y", "%Y", "%d%m")]
        password = passwords.issue(self.settings, personal)
        attributes["userPassword"] = password
        if self.settings.policies["users"].must_change:
            attributes["pwdReset"] = "TRUE"
        dn = f"uid={escape_rdn(local)},ou={BRANCHES[kind]},{self.base}"
        self._reserve(local, agency, req.request, kind, dn, name, attributes["mail"], attributes["govmailStore"])
        return Planned(dn, attributes["mail"], rule, attributes, password)

    def _reserve(self, local: str, agency: Account | None, request: str | None, kind: str, dn: str, name: str,
                 mail: str, store: str) -> None:
        """Count a planned add as taken, so the next plan in a batch sees it."""
        self.taken().add(local)
        self._store_counts[store] = self._store_counts.get(store, 0) + 1
        if agency:
            self._members.setdefault(agency.dn.lower(), set()).add(local)
        if request:
            self._requests.add(request.lower())
        if kind == "agency":
            self.agencies().append(Account.from_entry(dn, {"uid": [local], "mail": [mail], "cn": [name],
                                                           "govmailMailboxKind": ["agency"], "govmailStore": [store]}))

    def write_add(self, plan: Planned) -> Issued:
        check(self.conn, self.conn.add(plan.dn, attributes=plan.attributes), f"add {plan.address}")
        return Issued(plan.address, plan.password, plan.dn, plan.attributes["cn"])

    def add(self, req: AddRequest) -> Issued:
        return self.write_add(self.plan_add(req))

    # ---- changes ---------------------------------------------------------------------------------

    def modify(self, address: str, request: str | None, reason: str | None, name: str | None = None,
               agency: str | None = None, quota: int | None = None, add_aliases=(), remove_aliases=()) -> Account:
        account = self.find(address)
        changes: dict = {}
        new_agency = self.find_agency(agency) if agency else None
        if name:
            name = " ".join(name.split())
            changes.update(replace(cn=name, govmailSearchName=naming.fold(name)))
            if account.kind == "personal":
                naming.person_words(name)
                changes.update(replace(sn=name.split()[0]))
        if new_agency:
            changes.update(replace(govmailAgency=new_agency.dn))
        if name or new_agency:
            holder = new_agency or self.agency_of(account)
            changes.update(replace(displayName=self._display_name(name or account.name, holder)))
        if quota is not None:
            changes.update(replace(govmailQuotaBytes=str(quota)))
        for alias in add_aliases:
            self._check_alias(alias)
        if add_aliases:
            changes["govmailAlias"] = [(ldap3.MODIFY_ADD, list(add_aliases))]
        if remove_aliases:
            changes.setdefault("govmailAlias", []).append((ldap3.MODIFY_DELETE, list(remove_aliases)))
        if not changes:
            raise BadInput("nothing to change: give --name, --agency, --quota, --add-alias or --remove-alias")
        self._modify(account, changes, "modify", request, reason)
        return self.find(account.mail)

    def agency_of(self, account: Account) -> Account | None:
        return next((a for a in self.agencies() if a.dn.lower() == (account.agency_dn or "").lower()), None)

    def _check_alias(self, alias: str) -> None:
        local = naming.local_part(alias)
        if not alias.lower().endswith("@" + self.settings.domain) or not naming.LOCAL_PART.match(local):
            raise BadInput(f"alias {alias}: give a full address in {self.settings.domain}")
        if local in self.taken():
            raise BadInput(f"alias {alias} is already in use")

    def set_store(self, account: Account, store: str, request: str | None = None, reason: str | None = None,
                  action: str = "move", lost: str | None = None) -> None:
        """The directory names `store` as the mailbox's: logins and deliveries go there from now on (the copy is
        placement.move's). Only the last step of a move records its written request (used once); a failover
        records the store it left (`lost`), which its failback reads."""
        self._modify(account, {"govmailStore": [(ldap3.MODIFY_REPLACE, [store])]}, action,
                     request if action == "move" else None, reason, store=store, lost=lost)

    def lock(self, address: str, reason: str, request: str | None = None, account: Account | None = None,
             source: str | None = None) -> bool:
        """Lock logins; receiving goes on where the profile says. False if it was already locked."""
        account = account or self.find(address)
        if account.status == "revoked":
            raise BadInput(f"{account.mail} is revoked: restore it first")
        if account.status == "locked":
            return False
        changes = replace(govmailAccountStatus="locked", govmailLoginEnabled="FALSE",
                          govmailLockedAt=gtime(self.clock()), govmailLockReason=reason)
        if not self.settings.locked_still_receives:
            changes.update(replace(govmailReceiveEnabled="FALSE"))
        self._modify(account, changes, "lock", request, reason, rule=source)
        return True

    def _reopen(self, account: Account) -> dict:
        """Changes that put a mailbox back in use; its inactivity count starts again now."""
        changes = replace(govmailAccountStatus="active", govmailLoginEnabled="TRUE", govmailReceiveEnabled="TRUE",
                          pwdLastSuccess=gtime(self.clock()))
        for attr, present in (("govmailLockedAt", account.locked_at), ("govmailLockReason", account.lock_reason),
                              ("govmailRevokedAt", account.revoked_at), ("govmailRetainUntil", account.retain_until),
                              ("pwdAccountLockedTime", account.failure_locked)):
            if present:
                changes[attr] = [(ldap3.MODIFY_DELETE, [])]
        return changes

    def unlock(self, address: str, request: str | None, reason: str | None) -> Account:
        account = self.find(address)
        if account.status == "revoked":
            raise BadInput(f"{account.mail} is revoked: use `govmail account restore`")
        if account.status != "locked" and not account.failure_locked:
            raise BadInput(f"{account.mail} is not locked")
        if account.lock_reason in PASSWORD_REASONS:
            raise BadInput(f"{account.mail} was locked for its password ({account.lock_reason}): "
                           "`govmail account reset-password` issues a new one and unlocks it")
        self._modify(account, self._reopen(account), "unlock", request, reason)
        return self.find(account.mail)

    def _new_password(self, account: Account) -> tuple[dict, str]:
        personal = naming.person_words(account.name) if account.kind == "personal" else []
        password = passwords.issue(self.settings, personal)
        changes = replace(userPassword=password)
        if self.settings.policies["users"].must_change:
            changes.update(replace(pwdReset="TRUE"))
        return changes, password

    def reset_password(self, address: str, request: str | None, reason: str | None) -> Issued:
        account = self.find(address)
        if account.status == "revoked":
            raise BadInput(f"{account.mail} is revoked: use `govmail account restore`")
        changes, password = self._new_password(account)
        if account.status == "locked" and account.lock_reason in PASSWORD_REASONS:
            changes.update(self._reopen(account))
        elif account.failure_locked:
            changes["pwdAccountLockedTime"] = [(ldap3.MODIFY_DELETE, [])]
        self._modify(account, changes, "reset-password", request, reason)
        return Issued(account.mail, password, account.dn, account.name)

    def revoke(self, address: str, reason: str, request: str | None = None, account: Account | None = None,
               source: str | None = None) -> Account:
        """Mail is refused and logins end; the entry, its address and its mail stay until the retention
        date (project default: DEFAULTS['revoked_retention'])."""
        account = account or self.find(address)
        if account.status == "revoked" and account.dn.endswith(f"ou={REVOKED},{self.base}"):
            raise BadInput(f"{account.mail} is already revoked (since {account.revoked_at:%Y-%m-%d})")
        moment = self.clock()
        if account.status != "revoked":
            retention = DEFAULTS["revoked_retention"]
            changes = replace(govmailAccountStatus="revoked", govmailLoginEnabled="FALSE",
                              govmailReceiveEnabled="FALSE", govmailRevokedAt=gtime(moment),
                              govmailRetainUntil=gtime(retention.after(moment)), govmailLockReason=reason)
            self._modify(account, changes, "revoke", request, reason, retention=str(retention), rule=source)
        self._move(account, REVOKED)
        return self.find(account.mail)

    def _move(self, account: Account, branch: str) -> str:
        """Into ou=<branch> (unless there already); returns the entry's DN there."""
        rdn, parent = account.dn.split(",", 1)
        target = f"ou={branch},{self.base}"
        if parent.lower() != target.lower():
            check(self.conn, self.conn.modify_dn(account.dn, rdn, new_superior=target),
                  f"move {account.mail} to ou={branch}")
        return f"{rdn},{target}"

    def restore(self, address: str, request: str | None, reason: str | None) -> Issued:
        """Back into use from locked or revoked, with a new issued password where the profile says."""
        account = self.find(address)
        if account.status == "active" and not account.failure_locked:
            raise BadInput(f"{account.mail} is in use: nothing to restore")
        changes = self._reopen(account)
        password = ""
        if self.settings.profile.password.change_after_restore.value is not False:
            extra, password = self._new_password(account)
            changes.update(extra)
        self._modify(account, changes, "restore", request, reason)
        return Issued(account.mail, password, self._move(account, BRANCHES[account.kind]), account.name)

