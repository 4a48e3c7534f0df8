"""`govmail account …`, `govmail sweep`, `govmail report`: the regulation's procedures over LDAP.

Exit codes: 0 done, 1 failure, 2 bad input (unknown agency, bad row, duplicate request), 3 the regulation
leaves the address to the operator (give --address), 4 directory unreachable, 5 the directory refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import os
from pathlib import Path
from urllib.parse import urlparse

import click

from govmail.accounts import bulk
from govmail.accounts import directory, placement
from govmail.accounts import reports
from govmail.accounts import sweep as sweep_mod
from govmail.accounts.lifecycle import AddRequest, Issued, Lifecycle
from govmail.accounts.notify import Notifier
from govmail.build import render
from govmail.cli.options import inventory_options
from govmail.errors import BadInput
from govmail.model import settings as settings_mod
from govmail.model.units import parse_size


def _operator() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def target(fn):
    """--inventory/--province, --server, --operator: which directory, and who acts on it."""
    @inventory_options
    @click.option("--server", help="The directory's ldapi:// socket; default $GOVMAIL_LDAP_URL, else the mail "
                  "host's, through SSH as root (the inventory's first mail host).")
    @click.option("--operator", default=_operator, show_default="your login",
                  help="Who acts: recorded with every change.")
    @functools.wraps(fn)
    def wrapper(inventory, province, server, operator, **kwargs):
        s = settings_mod.load(province, inventory)
        conn = directory.connect(s, server)
        return fn(Lifecycle(s, conn, operator), **kwargs)
    return wrapper


def why(fn):
    fn = click.option("--reason", help="Why (recorded).")(fn)
    return click.option("--request", help="Number of the written request (recorded; used once).")(fn)


def _hand_over(issued: list[Issued], out: Path | None) -> None:
    """Credentials once: to a new 0600 file, or to standard output. Never to a log."""
    if out:
        with bulk.credentials_file(out) as write:
            for n, item in enumerate(issued, 1):
                write(n, item)
        click.echo(f"credentials for {len(issued)} mailbox(es) written to {out} (mode 600)", err=True)
    else:
        for item in issued:
            click.echo(f"{item.address}\t{item.password}")


@click.group()
def account():
    """Mailboxes: add, show, modify, lock, unlock, move, revoke, restore, reset-password, import."""


@account.command("add")
@target
@why
@click.option("--kind", required=True, type=click.Choice(["person", "agency", "unit"]))
@click.option("--name", required=True, help="Full name as written (family name first), or the agency/unit name.")
@click.option("--agency", help="The person's or unit's agency: its address or full name.")
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--abbrev", help="Your own abbreviation for an agency or unit.")
@click.option("--agency-abbrev", help="The parent agency's part in a unit's address.")
@click.option("--address", help="The address, where the regulation leaves the choice to you.")
@click.option("--received", type=click.DateTime(["%Y-%m-%d"]), help="When the request arrived (default today).")
@click.option("--credentials-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the issued password to this new file instead of printing it.")
def account_add(lc: Lifecycle, request, reason, kind, name, agency, birth_date, abbrev, agency_abbrev, address,
                received, credentials_out):
    """Create a mailbox by the province's naming rules, with an issued password to be changed."""
    req = AddRequest(kind, name, agency, birth_date.date() if birth_date else None, abbrev, agency_abbrev, address,
                     request, (received or dt.datetime.now()).date())
    issued = lc.add(req)
    click.echo(f"added {issued.address} ({issued.dn})", err=True)
    _hand_over([issued], credentials_out)


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@account.command("show")
@target
@click.argument("address")
@click.option("--json", "as_json", is_flag=True)
def account_show(lc: Lifecycle, address, as_json):
    """One mailbox: state, dates, and its audit trail."""
    a = lc.find(address)
    if as_json:
        click.echo(json.dumps(a.__dict__, default=str, ensure_ascii=False, indent=2))
        return
    deadline = sweep_mod.password_deadline(lc.settings, a)
    for label, value in [("address", a.mail), ("name", a.display), ("kind", a.kind), ("status", a.status),
                         ("lock reason", a.lock_reason or "-"), ("failure lock", _failure_lock(lc, a)),
                         ("login", "on" if a.login_enabled else "off"),
                         ("receiving", "on" if a.receive_enabled else "off"),
                         ("quota", render.bytes_text(a.quota_bytes or None)), ("aliases", ", ".join(a.aliases) or "-"),
                         ("created", _when(a.created)), ("last login", _when(a.last_login)),
                         ("password set", _when(a.password_changed)),
                         ("issued password", "not yet changed" if a.must_change else "changed"),
                         ("password stops", _password_stops(deadline)), ("reminders", _reminders(lc, a, deadline)),
                         ("retained until", _when(a.retain_until)), ("entry", a.dn)]:
        click.echo(f"{label:<16} {value}")
    click.echo("history:")
    for record in a.audit:
        extra = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("at", "by", "action"))
        click.echo(f"  {record['at']}  {record['by']:<12} {record['action']:<15} {extra}")


def _password_stops(deadline) -> str:
    """sweep.password_deadline's (when, rule, source), as the operator reads it."""
    return f"{_when(deadline[0])} ({deadline[1]}, {deadline[2]})" if deadline else "never"


def _reminders(lc: Lifecycle, a, deadline) -> str:
    """The reminder dates of the password's deadline, and the last one sent."""
    if deadline is None or not lc.settings.reminders.days:
        return "none"
    dates = ", ".join(f"{day:%Y-%m-%d}" for day in sweep_mod.reminder_days(lc.settings, deadline[0]))
    sent = f"; last sent {a.reminded[1]} days before {a.reminded[0]:%Y-%m-%d}" if a.reminded else ""
    return f"{dates} ({lc.settings.reminders.source}){sent}"


def _failure_lock(lc: Lifecycle, a) -> str:
    """slapd's lock after failed passwords, told apart from an operator's lock (status locked)."""
    if not a.failure_locked_since:
        return "-"
    ends = a.failure_locked_since + dt.timedelta(seconds=lc.settings.policies["users"].lockout_seconds)
    if ends <= lc.clock():
        return f"ended {_when(ends)} (cleared at the next good login)"
    return f"failed passwords, ends by itself {_when(ends)}"


@account.command("modify")
@target
@why
@click.argument("address")
@click.option("--name", help="New full name (the address stays).")
@click.option("--agency", help="Move to another agency (address or name).")
@click.option("--quota", help="New quota, within the regulation's bound (e.g. 5GB).")
@click.option("--add-alias", multiple=True)
@click.option("--remove-alias", multiple=True)
def account_modify(lc: Lifecycle, request, reason, address, name, agency, quota, add_alias, remove_alias):
    """Change a mailbox's name, agency, quota or aliases."""
    quota_bytes = None
    if quota:
        kind = lc.find(address).kind
        quota_bytes = settings_mod.quota_for(kind, lc.settings.profile, parse_size(quota)).bytes or 0
    a = lc.modify(address, request, reason, name, agency, quota_bytes, add_alias, remove_alias)
    click.echo(f"modified {a.mail}", err=True)


@account.command("lock")
@target
@why
@click.argument("address")
def account_lock(lc: Lifecycle, request, reason, address):
    """Stop logins (mail still arrives where the profile says)."""
    if not reason:
        raise BadInput("give --reason: a lock is recorded with its reason")
    changed = lc.lock(address, reason, request)
    click.echo(f"{address}: {'locked' if changed else 'already locked'}", err=True)


@account.command("move")
@target
@why
@click.argument("address")
@click.argument("store")
def account_move(lc: Lifecycle, request, reason, address, store):
    """Move a mailbox to another store (a host of hosts.yml group store), while it is in use."""
    moved = placement.move(lc, address, store, request, reason)
    for warning in moved.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{moved.address}: moved from {moved.source} to {moved.target} in {moved.seconds:.0f} s; its old copy "
               f"stays on {moved.source} ({moved.old_copy}): remove it there once checked", err=True)


@account.command("unlock")
@target
@why
@click.argument("address")
def account_unlock(lc: Lifecycle, request, reason, address):
    """Lift a lock; the inactivity count starts again."""
    a = lc.unlock(address, request, reason)
    click.echo(f"{a.mail}: unlocked", err=True)


@account.command("revoke")
@target
@why
@click.argument("address")
def account_revoke(lc: Lifecycle, request, reason, address):
    """End a mailbox: mail refused, logins ended; its entry, address and mail are kept for the retention
    period (govmail.model.settings.DEFAULTS['revoked_retention'])."""
    if not reason:
        raise BadInput("give --reason: a revocation is recorded with its reason")
    a = lc.revoke(address, reason, request)
    click.echo(f"{a.mail}: revoked, data kept until {a.retain_until:%Y-%m-%d}", err=True)


@account.command("restore")
@target
@why
@click.argument("address")
@click.option("--credentials-out", type=click.Path(dir_okay=False, path_type=Path))
def account_restore(lc: Lifecycle, request, reason, address, credentials_out):
    """Bring a locked or revoked mailbox back, with a new issued password where the profile says."""
    issued = lc.restore(address, request, reason)
    click.echo(f"{issued.address}: restored", err=True)
    if issued.password:
        _hand_over([issued], credentials_out)


@account.command("reset-password")
@target
@why
@click.argument("address")
@click.option("--credentials-out", type=click.Path(dir_okay=False, path_type=Path))
def account_reset_password(lc: Lifecycle, request, reason, address, credentials_out):
    """Issue a new password that must be changed at next login (unlocks a password lock)."""
    issued = lc.reset_password(address, request, reason)
    _hand_over([issued], credentials_out)


@account.command("import", epilog=bulk.columns_help())
@target
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--credentials-out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="New file (mode 600) for the issued passwords.")
@click.option("--skip-bad", is_flag=True, help="Add the good rows even if some are bad.")
@click.option("--check", "check_only", is_flag=True, help="Validate every row; add nothing.")
def account_import(lc: Lifecycle, csv_file, credentials_out, skip_bad, check_only):
    """Add the mailboxes of a bulk request, a CSV file with the columns below."""
    rows = bulk.read_rows(csv_file)
    planned, bad, done = bulk.plan(lc, rows)
    for line, address in done:
        click.echo(f"{csv_file}:{line}: already added by an earlier run: {address}", err=True)
    for row in bad:
        click.echo(f"{csv_file}:{row.line}: {row.message}", err=True)
    if bad and not skip_bad:
        raise BadInput(f"{len(bad)} of {len(rows)} row(s) bad: nothing added (fix them, or --skip-bad)")
    click.echo(f"{len(planned)} row(s) to add, {len(bad)} skipped, {len(done)} added before", err=True)
    if check_only:
        return
    writer = directory.connect(lc.settings, lc.conn.server.name, pipelined=True)
    with bulk.credentials_file(credentials_out) as write, \
            click.progressbar(length=len(planned), label="adding", file=click.get_text_stream("stderr")) as bar:
        def done(line, issued):
            write(line, issued)
            bar.update(1)
        refused = bulk.write_all(writer, planned, done)
    for row in refused:
        click.echo(f"{csv_file}:{row.line}: {row.message}", err=True)
    click.echo(f"added {len(planned) - len(refused)}; credentials in {credentials_out}", err=True)
    if refused:
        raise directory.DirectoryRefused(f"{len(refused)} row(s) refused by the directory (listed above); "
                                         "the others were added")


def _notifier(lc: Lifecycle, smtp: str | None, outbox: Path | None) -> Notifier:
    """Where agency notices go: the outbox, a named SMTP host, else the mail host's sendmail through SSH (the
    province's own sender is refused on port 25 from the network)."""
    tunnel = getattr(lc.conn, "tunnel", None)
    if outbox or smtp or not tunnel:
        host, _, port = (smtp or urlparse(lc.conn.server.name).hostname or "").partition(":")
        return Notifier(lc.settings.domain, host, int(port or 25), outbox)
    return Notifier(lc.settings.domain, ssh=tunnel.target)


@click.group("store")
def store():
    """Mailbox stores (hosts.yml group store): failover, failback."""


@store.command("failover")
@target
@click.option("--reason", required=True, help="Why (recorded in each mailbox's audit).")
@click.argument("name")
def store_failover(lc: Lifecycle, reason, name):
    """Point every mailbox of a lost store at its partner store, which holds their copies (up to its last
    copy, at most the inventory's store_copy_every ago). Refused while the store answers."""
    done = placement.failover(lc, name, reason)
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    for address in done.addresses:
        click.echo(address)
    click.echo(f"{len(done.addresses)} mailbox(es) of {done.store} now on {done.partner}, with their mail up to its "
               f"last copy; when {done.store} is back: govmail store failback {done.store}", err=True)


@store.command("failback")
@target
@click.option("--reason", required=True, help="Why (recorded in each mailbox's audit).")
@click.argument("name")
def store_failback(lc: Lifecycle, reason, name):
    """Move the mailboxes that failed over from a store back to it, once it answers again; the mail that reached
    it after its last copy comes back too (each mailbox's old copy there is kept aside)."""
    moved, failures = placement.failback(lc, name, reason)
    for done in moved:
        for warning in done.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(done.address)
    for failure in failures:
        click.echo(f"error: {failure}", err=True)
    left = f", {len(failures)} not moved (above)" if failures else ""
    click.echo(f"{len(moved)} mailbox(es) back on {name}{left}", err=True)
    if failures:
        raise SystemExit(1)


@click.command("sweep")
@target
@click.option("--dry-run", is_flag=True, help="List what would happen; change nothing.")
@click.option("--outbox", type=click.Path(file_okay=False, path_type=Path),
              help="Write agency notices as .eml files here instead of sending them.")
@click.option("--smtp", help="HOST[:PORT] for agency notices (default: the mail host's sendmail, through SSH "
                             "as for the directory).")
@click.option("--yes", "confirmed", is_flag=True,
              help="Go on even when more than the inventory's share of mailboxes would be locked or revoked.")
def sweep(lc: Lifecycle, dry_run, outbox, smtp, confirmed):
    """Lock and revoke by the profile's inactivity and password rules; notify agencies; remind users whose
    password stops working soon. Idempotent."""
    done = sweep_mod.run(lc, _notifier(lc, smtp, outbox), dry_run, confirmed)
    would = "would " if dry_run else ""
    for a in done.actions:
        click.echo(f"{would}{a.action:<6} {a.account.mail:<40} {a.reason:<22} "
                   f"due {a.due:%Y-%m-%d} ({a.source}){'  ' + a.notice if a.notice else ''}")
    for r in done.reminders:
        click.echo(f"{would}remind {r.account.mail:<40} {r.reason:<22} due {r.deadline:%Y-%m-%d} "
                   f"({r.days} days before; {r.source}){'  ' + r.notice if r.notice else ''}")
    for a in done.refolded:
        click.echo(f"{would}fold   {a.mail:<40} address-book name")
    click.echo(f"{len(done.actions)} action(s), {len(done.reminders)} reminder(s), {len(done.refolded)} name(s) "
               f"folded for the address book{' (dry run)' if dry_run else ''}", err=True)
    if any(x.notice.startswith("NOTICE NOT SENT") for x in [*done.actions, *done.reminders]):
        raise click.exceptions.Exit(1)


@click.command("report")
@target
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
              help="Start of the period (default: one reporting period back, by the profile's schedule).")
@click.option("--usage", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Output of `doveadm -f tab quota get -A` from the mail host, for quota use.")
def report(lc: Lifecycle, csv_out, html_out, since, usage):
    """The profile's periodic report, as CSV and as an HTML page with a chart."""
    moment = lc.clock()
    start = since.replace(tzinfo=dt.timezone.utc) if since else reports.period_start(lc.settings, moment)
    rows = reports.build(lc.settings, directory.accounts(lc.conn, lc.base), moment, start,
                         reports.read_usage(usage) if usage else None)
    reports.write_csv(rows, csv_out)
    reports.write_html(lc.settings, rows, start, moment, html_out)
    total = reports.totals(rows)
    click.echo(f"{total.mailboxes} mailboxes ({total.active} active, {total.locked} locked, {total.revoked} revoked); "
               f"wrote {csv_out} and {html_out}", err=True)
