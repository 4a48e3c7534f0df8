"""The sweep's rules on mailboxes built in memory: which action, for which reason, due when."""

import datetime as dt

from govmail.accounts import sweep
from govmail.accounts.directory import Account
from govmail.model import settings

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)


def mailbox(last_login_days=1, password_days=1, status="active", must_change=False, locked_days=None,
            lock_reason=None) -> Account:
    def ago(days):
        return None if days is None else NOW - dt.timedelta(days=days)
    return Account(dn="uid=x,ou=people,dc=x", uid="x", mail="x@x.gov.vn", kind="personal", name="X", display="X",
                   quota_bytes=0, agency_dn=None, status=status, login_enabled=status == "active",
                   receive_enabled=True, created=ago(400), last_login=ago(last_login_days),
                   password_changed=ago(password_days), must_change=must_change,
                   locked_at=ago(locked_days), lock_reason=lock_reason, revoked_at=None, retain_until=None,
                   received_at=None, birth_date=None)


def decide(profile, province, account):
    actions = sweep.plan(settings.build(profile(province)), [account], NOW)
    return [(a.action, a.reason, a.due.date()) for a in actions]


def test_hanam_lock_at_three_calendar_months_then_revoke_at_six(profile):
    # last used 23 August: three calendar months later is 23 November, today.
    assert decide(profile, "hanam", mailbox(last_login_days=92)) == [("lock", "inactivity", dt.date(2026, 11, 23))]
    assert decide(profile, "hanam", mailbox(last_login_days=91)) == []
    assert decide(profile, "hanam", mailbox(last_login_days=200))[0][:2] == ("revoke", "inactivity")


def test_hanam_issued_password_kept_past_a_month(profile):
    assert decide(profile, "hanam", mailbox(password_days=31, must_change=True)) == [
        ("lock", "issued_password_kept", dt.date(2026, 11, 23))]   # issued 23 October
    assert decide(profile, "hanam", mailbox(password_days=31)) == []


def test_cantho_revoke_counts_working_days_from_the_lock_notice(profile):
    # Locked Monday 2 November: 15 working days later is Monday 23 November.
    locked = dict(status="locked", lock_reason="inactivity", last_login_days=120)
    assert decide(profile, "cantho", mailbox(locked_days=21, **locked)) == [
        ("revoke", "inactivity", dt.date(2026, 11, 23))]
    assert decide(profile, "cantho", mailbox(locked_days=20, **locked)) == []
    # a mailbox locked for another reason is not revoked by the inactivity rule
    assert decide(profile, "cantho", mailbox(locked_days=60, status="locked", lock_reason="forbidden_use")) == []


def test_bacgiang_has_no_inactivity_rule_but_a_six_month_password_age(profile):
    assert decide(profile, "bacgiang", mailbox(last_login_days=1000, password_days=10)) == []
    assert decide(profile, "bacgiang", mailbox(password_days=190))[0][:2] == ("lock", "password_expired")


def test_revoked_mailboxes_are_left_alone(profile):
    assert decide(profile, "danang", mailbox(last_login_days=1000, status="revoked")) == []
