"""The profile's inactivity and password rules, applied to every mailbox: safe to run every night.

Each rule compares a date kept in the directory with the profile's period (calendar months, Vietnamese
working days): last login (slapd's lastbind: every IMAP, POP3, submission and webmail login binds, so
sending and reading both count) or creation, the lock date, the last password change. A mailbox already
locked is not locked again and a revoked one is left alone, so a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .directory import Account, accounts
from .errors import GovmailError
from .lifecycle import Lifecycle
from .notify import NoticeFailed, Notifier
from .settings import SWEEP_GUARD_FLOOR, Settings
from .units import Duration

ACTION_VI = {"lock": "tạm khóa", "revoke": "thu hồi"}
REASON_VI = {
    "inactivity": "không sử dụng trong thời gian quy định",
    "issued_password_kept": "chưa đổi mật khẩu được cấp trong thời hạn quy định",
    "password_unchanged": "không đổi mật khẩu trong thời hạn quy định",
    "password_expired": "mật khẩu quá thời hạn sử dụng",
}


@dataclass
class Action:
    account: Account
    action: str          # lock or revoke
    reason: str
    source: str          # the article
    due: dt.datetime
    notice: str = ""     # to whom the agency notice went, or why none did


def _rule(cited) -> tuple[Duration | None, str]:
    return cited.value, cited.source or ""


def _revoke(s: Settings, account: Account, moment: dt.datetime) -> Action | None:
    idle = s.profile.inactivity
    after, source = _rule(idle.revoke_after)
    if after is None:
        return None
    if idle.revoke_counted_from.value == "lock_notice":
        if account.status != "locked" or account.lock_reason != "inactivity" or not account.locked_at:
            return None
        due = after.after(account.locked_at)
    else:
        due = after.after(account.last_activity)
    return Action(account, "revoke", "inactivity", source, due) if moment >= due else None


def _lock(s: Settings, account: Account, moment: dt.datetime) -> Action | None:
    pw = s.profile.password
    changed = password_set(account)
    rules = [("inactivity", *_rule(s.profile.inactivity.lock_after), account.last_activity),
             ("password_unchanged", *_rule(pw.lock_if_unchanged_for), changed),
             ("password_expired", s.policies["users"].max_age, pw.max_age.users.source or "project default",
              changed)]
    if account.must_change:
        rules.insert(1, ("issued_password_kept", *_rule(pw.first_change_deadline), changed))
    for reason, after, source, start in rules:
        if after is not None and moment >= after.after(start):
            return Action(account, "lock", reason, source, after.after(start))
    return None


def password_set(account: Account) -> dt.datetime:
    return account.password_changed or account.created


def issued_password_overdue(s: Settings, account: Account, moment: dt.datetime) -> bool:
    """Still the issued password, past the profile's deadline for changing it."""
    deadline = s.profile.password.first_change_deadline.value
    return bool(account.must_change and deadline and moment >= deadline.after(password_set(account)))


def plan(s: Settings, mailboxes: list[Account], moment: dt.datetime) -> list[Action]:
    actions = []
    for account in mailboxes:
        if account.status in ("revoked", "system"):
            continue
        action = _revoke(s, account, moment) or (_lock(s, account, moment) if account.status == "active" else None)
        if action:
            actions.append(action)
    return actions


def notice_text(s: Settings, action: Action) -> tuple[str, str]:
    verb = ACTION_VI[action.action]
    subject = f"Thông báo {verb} hộp thư {action.account.mail}"
    body = (f"Hộp thư {action.account.mail} ({action.account.name}) đã bị {verb} ngày "
            f"{action.due:%d/%m/%Y} do {REASON_VI[action.reason]} ({action.source}).\n")
    if action.action == "lock" and action.reason == "inactivity" and s.profile.inactivity.revoke_after.value:
        body += (f"Nếu cơ quan không có xác nhận, hộp thư sẽ bị thu hồi sau "
                 f"{s.profile.inactivity.revoke_after.value} ({s.profile.inactivity.revoke_after.source}).\n")
    if action.action == "lock" and s.locked_still_receives:
        body += "Hộp thư vẫn nhận thư trong thời gian bị tạm khóa.\n"
    return subject, body


def _notify(lc: Lifecycle, notifier: Notifier, action: Action) -> str:
    if not lc.settings.notify_agency:
        return "no notice (the profile does not ask for one)"
    agency = lc.agency_of(action.account)
    if agency is None or agency.dn == action.account.dn:
        return "no agency mailbox to notify"
    try:
        notifier.send(agency.mail, *notice_text(lc.settings, action))
    except NoticeFailed as err:
        return f"NOTICE NOT SENT: {err}"
    return f"notice to {agency.mail}"


class TooManyActions(GovmailError):
    """A sweep that would lock or revoke an unusual share of the mailboxes: nothing was changed."""


def check_share(s: Settings, actions: list[Action], found: list[Account], moment: dt.datetime) -> None:
    live = sum(1 for a in found if a.status not in ("revoked", "system"))
    bound = max(SWEEP_GUARD_FLOOR, live * s.sweep_max_percent / 100)
    if len(actions) > bound:
        raise TooManyActions(
            f"the sweep would lock or revoke {len(actions)} of {live} mailboxes, more than "
            f"{s.sweep_max_percent} % (overrides.sweep_max_percent); nothing was changed. Check this machine's "
            f"clock (it says {moment:%Y-%m-%d %H:%M}) and `govmail sweep --dry-run`, then run again with --yes")


def run(lc: Lifecycle, notifier: Notifier, dry_run: bool = False, confirmed: bool = False) -> list[Action]:
    found = accounts(lc.conn, lc.base)
    moment = lc.clock()
    actions = plan(lc.settings, found, moment)
    if dry_run:
        return actions
    if not confirmed:
        check_share(lc.settings, actions, found, moment)
    for action in actions:
        if action.action == "lock":
            lc.lock(action.account.mail, action.reason, account=action.account, source=action.source)
        else:
            lc.revoke(action.account.mail, action.reason, account=action.account, source=action.source)
        action.notice = _notify(lc, notifier, action)
    return actions
