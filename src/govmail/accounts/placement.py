"""Moving a mailbox to another store while it is in use (`govmail account move`). Dovecot's dsync copies it
from the store that holds it to the new one, over the stores' doveadm listener (TLS with the inventory's
internal certificate, the deployment's doveadm password; the firewalls admit the stores alone) while the
mailbox is in use. Then, for a few seconds, the mailbox is held (logins "temporarily unavailable", deliveries
deferred in the mail host's queue): the old store's sessions are ended, a last copy brings what arrived
meanwhile, the directory names the new store and the queue is flushed. A two-way sync after the switch
instead would race the new deliveries on both sides (the lab drill saw a message twice). The old copy stays
on the old store until an operator removes it."""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ldap3.utils.conv import escape_filter_chars

from govmail import reach
from govmail.accounts.directory import Account, accounts
from govmail.accounts.lifecycle import Lifecycle
from govmail.build.layout import STORE_PORTS, VMAIL
from govmail.errors import BadInput, GovmailError

# How long a delivery that looked the mailbox up before the switch may still take (an LMTP transaction).
SETTLE_SECONDS = 5
COMMAND_TIMEOUT = 3600
DSYNC_CHANGED = 2       # doveadm sync/backup: done, but the mailbox changed meanwhile; run again
DSYNC_TEMPFAIL = 75     # a lock not had in time, or a connection that stalled: run again
DSYNC_ATTEMPTS = 5
# dsync gives up on a connection silent this long (its default is 600 s). Debian's Dovecot 2.4.1 stalls a few
# TLS connections that carry multiplexed streams (fixed upstream after 2.4.4): such a copy is run again.
DSYNC_STALL_SECONDS = 60
# dsync's per-mailbox lock, on both stores: a move and the stores' partner copies (govmail-store-copy) of the same
# mailbox wait for each other instead of writing it together.
LOCK_SECONDS = 60
# What the directory names as the mailbox's store while the last copy runs: a name that never resolves
# (RFC 6761), so the mail host's proxy answers logins "temporarily unavailable" and deliveries 4xx (Postfix
# keeps them queued) for those seconds, and nothing lands on either store meanwhile.
HELD = "moving.invalid"


class MoveFailed(GovmailError):
    exit_code = 1


@dataclass(frozen=True)
class Moved:
    address: str
    source: str
    target: str
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def old_copy(self) -> str:
        return mailbox_home(self.address)


def mailbox_home(address: str) -> str:
    """Where a store keeps a mailbox (its Maildir and Sieve scripts)."""
    local, domain = address.split("@")
    return f"{VMAIL}/{domain}/{local}"


def stores_of(lc: Lifecycle) -> dict[str, reach.SshTarget]:
    """Each store host by its inventory name, as SSH reaches it."""
    return dict(reach.inventory_hosts(Path(lc.settings.inventory), "store")) if lc.settings.inventory else {}


def stores_apart(s, otherwise: str) -> None:
    """Refused on one store: `otherwise` says what the command cannot do then."""
    if not s.stores_apart:
        raise BadInput(f"this deployment has one store (hosts.yml lists no store besides the mail host): {otherwise}")


def known_store(s, store: str) -> None:
    if store not in s.store_names:
        raise BadInput(f"unknown store '{store}': the stores are {', '.join(s.store_names)} (hosts.yml group store)")


def flush_queues(lc: Lifecycle) -> list[str]:
    """The mail hosts' queues flushed (what waited for a store goes now); a warning for each that failed."""
    warnings = []
    for _, mail_host in reach.inventory_hosts(Path(lc.settings.inventory), "mail"):
        if (flushed := run(mail_host, ["postqueue", "-f"])).returncode:
            warnings.append(failure(mail_host, ["postqueue", "-f"], flushed))
    return warnings


def move(lc: Lifecycle, address: str, target: str, request: str | None = None, reason: str | None = None,
         settle: float = SETTLE_SECONDS) -> Moved:
    """Move the mailbox to `target`; on a failure it stays where it was."""
    s, started = lc.settings, time.monotonic()
    stores_apart(s, "there is nowhere to move a mailbox")
    known_store(s, target)
    account = lc.find(address)
    source = account.store or s.store_names[0]
    if source == target:
        raise BadInput(f"{account.mail} is on {target} already")
    hosts = stores_of(lc)
    dsync(hosts[source], account.mail, target)
    lc.set_store(account, HELD, request, reason, action="move-hold")
    try:
        kicked = doveadm(hosts[source], ["kick", account.mail])
        time.sleep(settle)
        dsync(hosts[source], account.mail, target)
    except MoveFailed:
        lc.set_store(account, source, request, reason, action="move-undone")
        raise
    lc.set_store(account, target, request, reason)
    warnings = [failure(hosts[source], ["doveadm", "kick", account.mail], kicked)] if kicked.returncode else []
    warnings += flush_queues(lc)                                # what was held, delivered now
    return Moved(account.mail, source, target, time.monotonic() - started, tuple(warnings))


@dataclass(frozen=True)
class FailedOver:
    store: str
    partner: str
    addresses: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def failover(lc: Lifecycle, store: str, reason: str) -> FailedOver:
    """Point every mailbox of a lost store at its partner, which holds their copies (govmail-store-copy): they
    log in and receive there from now on, with their mail up to the last copy. Refused while the store answers
    (what arrived there since its last copy would be left behind: `govmail account move` moves a mailbox whole)."""
    s = lc.settings
    stores_apart(s, "there is no partner to fail over to")
    known_store(s, store)
    if store == s.store_names[0]:
        raise BadInput(f"{store} is the mail host, every user's way in (IMAP, submission, webmail): its mailboxes "
                       "cannot fail over without it; bring it back, or restore it onto a new host (README, backups)")
    partner, mail_host = s.store_partners[store], stores_of(lc)[s.store_names[0]]
    if answers(mail_host, store):
        raise BadInput(f"{store} answers (Dovecot, port {STORE_PORTS['imap']}): a failover would leave what arrived "
                       f"there since its last copy behind; move its mailboxes with `govmail account move` instead, "
                       "or stop its Dovecot first if it must be taken out now")
    moved = on_store(lc, store)
    for account in moved:
        lc.set_store(account, partner, reason=reason, action="failover", lost=store)
    warnings = flush_queues(lc)                    # what waited for the lost store goes to the partner now
    return FailedOver(store, partner, tuple(a.mail for a in moved), tuple(warnings))


def failback(lc: Lifecycle, store: str, reason: str) -> tuple[list[Moved], list[str]]:
    """Move the mailboxes that failed over from `store` back to it, once it answers again. For each, the copy
    the store kept is set aside, the mailbox moved as `govmail account move` moves one, then what the old copy
    holds is imported and every message held twice (the same GUID) kept once: the mail that reached the store
    after its last copy comes back (so does a message deleted on the partner meanwhile). A two-way dsync does
    not do it: where both sides gave the same UID to different messages it kept one (measured in the lab).
    The old copy stays beside the mailbox (`<mailbox>.before-failback-<time>`). (moved, failures by address)."""
    s = lc.settings
    stores_apart(s, "there is no partner to fail back from")
    known_store(s, store)
    hosts = stores_of(lc)
    if not answers(hosts[s.store_names[0]], store):
        raise BadInput(f"{store} does not answer (Dovecot, port {STORE_PORTS['imap']}): fail back once it runs again")
    moved, failures = [], []
    for account in failed_over_from(lc, store):
        try:
            kept = set_aside(hosts[store], account.mail)
            moved.append(move(lc, account.mail, store, reason=reason))
            if kept:
                merge_into(hosts[store], account.mail, kept)
        except MoveFailed as failed:
            failures.append(f"{account.mail}: {failed}")
    return moved, failures


def set_aside(host: reach.SshTarget, address: str) -> str | None:
    """Rename the store's own (older) copy of a mailbox out of the way; its new path, or None without one."""
    home = mailbox_home(address)
    aside = f"{home}.before-failback-{time.strftime('%Y%m%d%H%M%S')}"
    command = ["sh", "-c", 'if [ -e "$1" ]; then mv "$1" "$2" && echo "$2"; fi', "set-aside", home, aside]
    done = run(host, command)
    if done.returncode:
        raise MoveFailed(f"{failure(host, command, done)}; nothing changed: the mailbox stays where it was")
    return done.stdout.strip() or None


def merge_into(host: reach.SshTarget, address: str, kept: str) -> None:
    """What the set-aside copy holds, imported into the mailbox (every folder), then each message once."""
    # Not held to the quota: the messages were the mailbox's already (Dovecot 2.4.1's import into a mailbox over
    # its quota panicked in the lab drill).
    for command in (["-o", "quota_enforce=no", "import", "-u", address, f"maildir:{kept}/Maildir", "", "all"],
                    ["deduplicate", "-u", address, "mailbox", "*"]):
        if (done := doveadm(host, command)).returncode:
            raise MoveFailed(f"{failure(host, ['doveadm', *command], done)}; the mailbox is on the store, the mail "
                             f"that reached it after its last copy is in {kept}")


def failed_over_from(lc: Lifecycle, store: str) -> list[Account]:
    """The mailboxes on the store's partner whose last change of store was a failover from it."""
    return [a for a in on_store(lc, lc.settings.store_partners[store])
            if (last := last_placement(a)).get("action") == "failover" and last.get("lost") == store]


def last_placement(account: Account) -> dict:
    """The mailbox's last audit record that changed its store: by time, to the second; within one second, the
    value added last (slapd keeps the order they came in)."""
    placements = [(r["at"], n, r) for n, r in enumerate(account.audit) if "store" in r]
    return max(placements, key=lambda found: found[:2], default=(None, None, {}))[2]


def on_store(lc: Lifecycle, store: str) -> list[Account]:
    return accounts(lc.conn, lc.base, f"(&(objectClass=govmailMailbox)(govmailStore={escape_filter_chars(store)}))")


def answers(mail_host: reach.SshTarget, store: str) -> bool:
    """Whether the store's Dovecot takes a connection from the mail host (which its firewall admits)."""
    probe = f"exec 3<>/dev/tcp/{store}/{STORE_PORTS['imap']}"
    return run(mail_host, ["timeout", "5", "bash", "-c", probe]).returncode == 0


def dsync(host: reach.SshTarget, address: str, target: str) -> None:
    """`doveadm backup` of one mailbox (the target made like the source), run on the source store towards the
    target's doveadm listener; again while dsync answers that the mailbox changed meanwhile (exit code 2) or that
    it could not finish now (75: a lock, a stalled connection)."""
    command = ["backup", "-l", str(LOCK_SECONDS), "-T", str(DSYNC_STALL_SECONDS), "-u", address,
               f"tcps:{target}:{STORE_PORTS['doveadm']}"]
    for _ in range(DSYNC_ATTEMPTS):
        done = doveadm(host, command)
        if done.returncode not in (DSYNC_CHANGED, DSYNC_TEMPFAIL):
            break
    if done.returncode:
        raise MoveFailed(f"{failure(host, command, done)}; nothing changed: the mailbox stays where it was")


def doveadm(host: reach.SshTarget, args: list[str]) -> subprocess.CompletedProcess:
    return run(host, ["doveadm", *args])


def run(host: reach.SshTarget, args: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(host.command() + [shlex.join(args)], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise MoveFailed(f"`{shlex.join(args)}` on {host.address} did not finish in {COMMAND_TIMEOUT} s") from None


def failure(host: reach.SshTarget, args: list[str], done: subprocess.CompletedProcess) -> str:
    return f"`{shlex.join(args)}` on {host.address} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-600:]}"
