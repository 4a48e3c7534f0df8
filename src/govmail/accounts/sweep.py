"""The profile's inactivity and password rules, applied to every mailbox: safe to run every night.

Each rule compares a date kept in the directory with the profile's period (calendar months, Vietnamese
working days): last login (slapd's lastbind: every IMAP, POP3, submission and webmail login binds, so
sending and reading both count) or creation, the lock date, the last password change. A mailbox already
locked is not locked again and a revoked one is left alone, so a second run changes nothing.

Users whose password stops working soon (its maximum age, or the deadline for changing an issued one) are
reminded on the inventory's days before it; the directory keeps the last reminder (govmailReminded), so a
second run sends nothing new and a changed password starts afresh.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from govmail.accounts.directory import Account, accounts, reminded_value
from govmail.accounts.lifecycle import Lifecycle
from govmail.accounts.notify import NoticeFailed, Notifier
from govmail.errors import GovmailError
from govmail.model import naming
from govmail.model.settings import SWEEP_GUARD_FLOOR, Settings
from govmail.model.units import Duration
from govmail.model.workdays import VIETNAM

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


def _password_rules(s: Settings, account: Account) -> list[tuple[str, Duration | None, str, dt.datetime]]:
    """(reason, period, article, counted from) of each rule that locks a mailbox for its password."""
    pw = s.profile.password
    changed = password_set(account)
    rules = [("password_unchanged", *_rule(pw.lock_if_unchanged_for), changed),
             ("password_expired", s.policies["users"].max_age, pw.max_age.users.source or "project default",
              changed)]
    if account.must_change:
        rules.insert(0, ("issued_password_kept", *_rule(pw.first_change_deadline), changed))
    return [rule for rule in rules if rule[1] is not None]


def _lock(s: Settings, account: Account, moment: dt.datetime) -> Action | None:
    rules = [("inactivity", *_rule(s.profile.inactivity.lock_after), account.last_activity),
             *_password_rules(s, account)]
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
        if not account.live:
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


@dataclass
class Reminder:
    account: Account
    days: int            # the reminder's day: this many days before the deadline
    deadline: dt.datetime
    reason: str          # the rule that locks the mailbox then
    source: str
    notice: str = ""


def password_deadline(s: Settings, account: Account) -> tuple[dt.datetime, str, str] | None:
    """When the password stops working, by which rule and article: the earliest password rule's date."""
    dates = [(after.after(start), reason, source) for reason, after, source, start in _password_rules(s, account)]
    return min(dates, key=lambda d: d[0]) if dates else None


def reminder_days(s: Settings, deadline: dt.datetime) -> list[dt.datetime]:
    """The dates on which a password stopping on `deadline` is reminded."""
    return [deadline - dt.timedelta(days=days) for days in s.reminders.days]


def _reminder(s: Settings, account: Account, moment: dt.datetime) -> Reminder | None:
    if account.status != "active" or not account.login_enabled:
        return None
    found = password_deadline(s, account)
    if found is None or moment >= found[0]:
        return None
    deadline, reason, source = found
    due = [days for days, day in zip(s.reminders.days, reminder_days(s, deadline)) if moment >= day]
    if not due:
        return None
    days = min(due)          # a sweep missed for a while sends the nearest reminder only
    if account.reminded and account.reminded[0] == deadline and account.reminded[1] <= days:
        return None
    return Reminder(account, days, deadline, reason, source)


def reminders(s: Settings, mailboxes: list[Account], moment: dt.datetime) -> list[Reminder]:
    return [r for r in (_reminder(s, a, moment) for a in mailboxes) if r]


def reminder_text(s: Settings, reminder: Reminder) -> tuple[str, str]:
    account = reminder.account
    day = f"{reminder.deadline.astimezone(VIETNAM):%d/%m/%Y}"
    subject = f"Mật khẩu hộp thư {account.mail} sẽ hết hạn ngày {day}"
    what = "mật khẩu được cấp" if reminder.reason == "issued_password_kept" else "mật khẩu"
    body = (f"Kính gửi {account.display},\n\n"
            f"Theo quy định ({reminder.source}), {what} của hộp thư {account.mail} phải được đổi trước ngày "
            f"{day}. Sau ngày đó hộp thư sẽ bị tạm khóa cho đến khi quản trị viên cấp lại mật khẩu.\n\n"
            f"Cách đổi mật khẩu: đăng nhập https://{s.mail_host}/ , chọn Cài đặt → Mật khẩu, nhập mật khẩu "
            f"hiện tại và mật khẩu mới.\n")
    body += f"{s.policies['users'].rule_vi}\n\nThư này được gửi tự động; vui lòng không trả lời.\n"
    return subject, body


def _remind(lc: Lifecycle, notifier: Notifier, reminder: Reminder) -> str:
    try:
        notifier.send(reminder.account.mail, *reminder_text(lc.settings, reminder))
    except NoticeFailed as err:
        return f"NOTICE NOT SENT: {err}"
    lc.remember_reminder(reminder.account, reminded_value(reminder.deadline, reminder.days))
    return f"notice to {reminder.account.mail}"


class TooManyActions(GovmailError):
    """A sweep that would lock or revoke an unusual share of the mailboxes: nothing was changed."""


def check_share(s: Settings, actions: list[Action], found: list[Account], moment: dt.datetime) -> None:
    live = sum(1 for a in found if a.live)
    bound = max(SWEEP_GUARD_FLOOR, live * s.sweep_max_percent / 100)
    if len(actions) > bound:
        raise TooManyActions(
            f"the sweep would lock or revoke {len(actions)} of {live} mailboxes, more than "
            f"{s.sweep_max_percent} % (overrides.sweep_max_percent); nothing was changed. Check this machine's "
            f"clock (it says {moment:%Y-%m-%d %H:%M}) and `govmail sweep --dry-run`, then run again with --yes")


def unfolded(found: list[Account]) -> list[Account]:
    """Mailboxes the address book cannot find typed without accents: their folded name is missing (made
    before govmail kept one) or no longer their name's (renamed outside govmail). The book lists neither
    revoked mailboxes nor the operators' own."""
    return [a for a in found
            if a.live and a.name and a.search_name != naming.fold(a.name)]


@dataclass
class Sweep:
    """What a sweep did (or, dry, would do)."""
    actions: list[Action]
    reminders: list[Reminder]
    refolded: list[Account]


def run(lc: Lifecycle, notifier: Notifier, dry_run: bool = False, confirmed: bool = False) -> Sweep:
    found = accounts(lc.conn, lc.base)
    moment = lc.clock()
    actions = plan(lc.settings, found, moment)
    acted_on = {a.account.dn for a in actions}
    due = [r for r in reminders(lc.settings, found, moment) if r.account.dn not in acted_on]
    result = Sweep(actions, due, unfolded(found))
    if dry_run:
        return result
    if not confirmed:
        check_share(lc.settings, actions, found, moment)
    for action in actions:
        if action.action == "lock":
            lc.lock(action.account.mail, action.reason, account=action.account, source=action.source)
        else:
            lc.revoke(action.account.mail, action.reason, account=action.account, source=action.source)
        action.notice = _notify(lc, notifier, action)
    for reminder in due:
        reminder.notice = _remind(lc, notifier, reminder)
    for account in result.refolded:
        lc.refold_name(account)
    return result
