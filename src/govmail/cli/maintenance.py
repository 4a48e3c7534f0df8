"""`govmail maintenance announce`: a planned window, announced to every agency mailbox as far ahead as the
profile asks, with the alerts silenced for it.

Exit codes: 0 done, 1 a notice was not sent (the others were; the silence stands), 2 bad input (a window
too close for the notice period, not in the future, a bad time or duration), 4 the mail host does not answer.
"""

from __future__ import annotations

import click

from govmail.accounts import maintenance
from govmail.accounts.notify import NoticeFailed
from govmail.cli.accounts import _notifier, target


@click.group("maintenance")
def maintenance_group():
    """Planned maintenance: announce a window to the agencies and silence the alerts for it."""


@maintenance_group.command("announce")
@target
@click.option("--at", "at", required=True, help="Start, Vietnam's time: \"YYYY-MM-DD HH:MM\".")
@click.option("--duration", required=True, help="How long, e.g. \"2 hours\", \"90 minutes\".")
@click.option("--what", required=True, help="What will be done (in the notice), e.g. \"Nâng cấp máy chủ\".")
def announce(lc, at, duration, what):
    """Check the window against the profile's notice period, silence the alerts for it, mail the notice to
    every active agency mailbox."""
    window = maintenance.plan(lc.settings, at, duration, what)
    agencies = [a for a in lc.agencies() if a.receive_enabled]
    silence_id = maintenance.silence(lc.settings, window, lc.operator)
    click.echo(f"alerts silenced {window.text()} (Alertmanager silence {silence_id})")
    notifier, failed = _notifier(lc, None, None), []
    for agency in agencies:
        subject, body = maintenance.notice(lc.settings, window, agency.name)
        try:
            notifier.send(agency.mail, subject, body)
            click.echo(f"notice sent to {agency.mail}")
        except NoticeFailed as err:
            failed.append(str(err))
    if not agencies:
        click.echo("no agency mailbox yet: nobody to notify", err=True)
    if failed:
        raise NoticeFailed(f"{len(failed)} notice(s) not sent: " + "; ".join(failed))
