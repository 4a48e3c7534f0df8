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

from govmail import reach
from govmail.accounts.lifecycle import Lifecycle
from govmail.build.layout import STORE_PORTS, VMAIL
from govmail.errors import BadInput, GovmailError

# How long a delivery that looked the mailbox up before the switch may still take (an LMTP transaction).
SETTLE_SECONDS = 5
COMMAND_TIMEOUT = 3600
DSYNC_CHANGED = 2       # doveadm sync/backup: done, but the mailbox changed meanwhile; run again
DSYNC_ATTEMPTS = 5
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
        local, domain = self.address.split("@")
        return f"{VMAIL}/{domain}/{local}"


def stores_of(lc: Lifecycle) -> dict[str, reach.SshTarget]:
    """Each store host by its inventory name, as SSH reaches it."""
    return dict(reach.inventory_hosts(Path(lc.settings.inventory), "store")) if lc.settings.inventory else {}


def move(lc: Lifecycle, address: str, target: str, request: str | None = None, reason: str | None = None,
         settle: float = SETTLE_SECONDS) -> Moved:
    """Move the mailbox to `target`; on a failure it stays where it was."""
    s, started = lc.settings, time.monotonic()
    if not s.stores_apart:
        raise BadInput("this deployment has one store (hosts.yml lists no store besides the mail host): "
                       "there is nowhere to move a mailbox")
    if target not in s.store_names:
        raise BadInput(f"unknown store '{target}': the stores are {', '.join(s.store_names)} (hosts.yml group store)")
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
    for _, mail_host in reach.inventory_hosts(Path(s.inventory), "mail"):     # what was held, delivered now
        if (flushed := run(mail_host, ["postqueue", "-f"])).returncode:
            warnings.append(failure(mail_host, ["postqueue", "-f"], flushed))
    return Moved(account.mail, source, target, time.monotonic() - started, tuple(warnings))


def dsync(host: reach.SshTarget, address: str, target: str) -> None:
    """`doveadm backup` of one mailbox (the target made like the source), run on the source store towards the
    target's doveadm listener; again while dsync answers that the mailbox changed meanwhile (exit code 2)."""
    command = ["backup", "-u", address, f"tcps:{target}:{STORE_PORTS['doveadm']}"]
    for _ in range(DSYNC_ATTEMPTS):
        done = doveadm(host, command)
        if done.returncode != DSYNC_CHANGED:
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
