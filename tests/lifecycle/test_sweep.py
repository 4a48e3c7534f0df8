"""`govmail sweep` over mailboxes whose last-login and password dates are forged into the past."""

import datetime as dt
import email
import email.policy
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import ldap3
import pytest
from dateutil.relativedelta import relativedelta

from govmail.accounts.directory import RELAX, gtime, now
from govmail.accounts.lifecycle import AddRequest

pytestmark = pytest.mark.lifecycle
NOW = now()


def ago(days: int) -> str:
    return gtime(NOW - dt.timedelta(days=days))


def person(lc, name, last_login_days, password_days, must_change=False, **extra) -> str:
    """A mailbox as if last used `last_login_days` ago, its password set `password_days` ago."""
    made = lc.add(AddRequest("person", name, agency=lc.agencies()[0].uid))
    changes = {"pwdLastSuccess": [(ldap3.MODIFY_REPLACE, [ago(last_login_days)])],
               "pwdChangedTime": [(ldap3.MODIFY_REPLACE, [ago(password_days)])]}
    if not must_change:
        changes["pwdReset"] = [(ldap3.MODIFY_DELETE, [])]
    changes.update({k: [(ldap3.MODIFY_REPLACE, [v])] for k, v in extra.items()})
    assert lc.conn.modify(made.dn, changes, controls=[RELAX]), lc.conn.result
    return made.address


def sweep(instance, *args):
    proc = subprocess.run([sys.executable, "-m", "govmail.cli", "sweep", "--province", instance.settings.province,
                           "--server", instance.url, "--operator", "cron", *args],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    return {tuple(line.split()[:4]) for line in proc.stdout.splitlines()}


def states(lc, addresses):
    return {a: (lc.find(a).status, lc.find(a).lock_reason) for a in addresses}


def test_hanam_locks_revokes_and_notifies_once(lifecycle_for, slapd_for, tmp_path):
    lc = lifecycle_for("hanam", purpose="sweep")
    instance = slapd_for("hanam", "sweep")
    agency = lc.add(AddRequest("agency", "Sở Lao động Thương binh và Xã hội"))
    idle = person(lc, "Kiều Văn Idle", 4 * 31, 30)                 # Điều 7.2.a: 3 months unused
    gone = person(lc, "Kiều Văn Gone", 7 * 31, 30)                 # Điều 6.2.c: 6 months unused
    issued = person(lc, "Kiều Văn Issued", 1, 40, must_change=True)  # Điều 7.2.d: 1 month to change it
    old = person(lc, "Kiều Văn Old", 1, 4 * 31)                    # Điều 8.2.a: 3 months' maximum age
    fresh = person(lc, "Kiều Văn Fresh", 1, 10)
    expected = {("would", "lock", idle, "inactivity"), ("would", "revoke", gone, "inactivity"),
                ("would", "lock", issued, "issued_password_kept"), ("would", "lock", old, "password_expired")}
    before = states(lc, [idle, gone, issued, old, fresh])
    assert sweep(instance, "--dry-run", "--outbox", str(tmp_path)) == expected
    assert states(lc, [idle, gone, issued, old, fresh]) == before and not any(tmp_path.iterdir())

    done = sweep(instance, "--outbox", str(tmp_path))
    assert done == {(action, address, reason, "due") for _, action, address, reason in expected}
    assert states(lc, [idle, gone, issued, old, fresh]) == {
        idle: ("locked", "inactivity"), gone: ("revoked", "inactivity"), issued: ("locked", "issued_password_kept"),
        old: ("locked", "password_expired"), fresh: ("active", None)}
    assert lc.find(idle).receive_enabled and not lc.find(idle).login_enabled      # Điều 7.1
    assert lc.find(gone).dn.startswith("uid=kieuvangone,ou=revoked,")

    notices = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(tmp_path.iterdir())]
    assert len(notices) == 4 and {n["To"] for n in notices} == {agency.address}
    idle_notice = next(n for n in notices if idle in n["Subject"])
    assert "tạm khóa" in idle_notice["Subject"] and "Điều 7.2.a" in idle_notice.get_content()

    assert sweep(instance, "--outbox", str(tmp_path)) == set(), "a second run changes nothing"
    assert len(list(tmp_path.iterdir())) == 4


def test_cantho_revokes_fifteen_working_days_after_the_lock_notice(lifecycle_for, slapd_for, tmp_path):
    lc = lifecycle_for("cantho", purpose="sweep")
    instance = slapd_for("cantho", "sweep")
    lc.add(AddRequest("agency", "Sở Tư pháp Cần Thơ", abbrev="sotp"))
    idle = person(lc, "Châu Văn Liêm", 100, 10)
    locked = {"govmailAccountStatus": "locked", "govmailLockReason": "inactivity", "govmailLoginEnabled": "FALSE"}
    # 15 working days is three calendar weeks at least: 30 days ago is past, 7 days ago is not.
    due = person(lc, "Châu Văn Due", 130, 10, govmailLockedAt=ago(30), **locked)
    waiting = person(lc, "Châu Văn Chờ", 100, 10, govmailLockedAt=ago(7), **locked)
    done = sweep(instance, "--outbox", str(tmp_path))
    assert done == {("lock", idle, "inactivity", "due"), ("revoke", due, "inactivity", "due")}
    assert lc.find(waiting).status == "locked"
    notices = (email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in tmp_path.iterdir())
    notice = next(n for n in notices if idle in n["Subject"])
    assert "15 working days" in notice.get_content() and "Điều 5.4" in notice.get_content()


def test_danang_revokes_after_three_months_without_a_lock_step(lifecycle_for, slapd_for, tmp_path):
    lc = lifecycle_for("danang", purpose="sweep")
    instance = slapd_for("danang", "sweep")
    agency = lc.add(AddRequest("agency", "Sở Ngoại vụ Đà Nẵng", abbrev="songoaivu"))
    gone = person(lc, "Phan Châu Trinh", 95, 10)
    kept = person(lc, "Phan Bội Châu", 80, 10)
    # The new agency mailbox must change its issued password within 3 working days (Điều 8.1.a): reminded.
    assert sweep(instance, "--outbox", str(tmp_path)) == {("revoke", gone, "inactivity", "due"),
                                                          ("remind", agency.address, "issued_password_kept", "due")}
    assert lc.find(kept).status == "active"


def test_a_sweep_that_would_lock_most_mailboxes_stops_until_told_yes(lifecycle_for, slapd_for, tmp_path):
    """As after a wrong clock: seven of eight mailboxes look idle. Nothing changes without --yes."""
    lc = lifecycle_for("hanam", purpose="mass-sweep")
    instance = slapd_for("hanam", "mass-sweep")
    lc.add(AddRequest("agency", "Sở Nội vụ"))
    idle = [person(lc, f"Kiều Văn {name}", 4 * 31, 30) for name in ("An", "Bình", "Cường", "Dũng", "Giang",
                                                                    "Hải", "Khánh")]
    fresh = person(lc, "Kiều Văn Lâm", 1, 10)
    before = states(lc, idle + [fresh])
    command = [sys.executable, "-m", "govmail.cli", "sweep", "--province", "hanam", "--server", instance.url,
               "--operator", "cron", "--outbox", str(tmp_path)]
    stopped = subprocess.run(command, capture_output=True, text=True)
    assert stopped.returncode == 1, stopped.stderr
    assert "would lock or revoke 7 of 9 mailboxes" in stopped.stderr and "--yes" in stopped.stderr
    assert states(lc, idle + [fresh]) == before
    assert sweep(instance, "--outbox", str(tmp_path), "--yes") == {("lock", a, "inactivity", "due") for a in idle}
    assert {a: lc.find(a).status for a in idle} == dict.fromkeys(idle, "locked")


def set_password_age(lc, address, changed: dt.datetime) -> None:
    dn = lc.find(address).dn
    assert lc.conn.modify(dn, {"pwdChangedTime": [(ldap3.MODIFY_REPLACE, [gtime(changed)])]}, controls=[RELAX])


def mails(outbox):
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(outbox.iterdir())]


def test_users_are_reminded_once_before_their_password_stops_working(lifecycle_for, slapd_for, tmp_path):
    """Hà Nam: passwords last 3 months (Điều 8.2.a); reminders 14 and 3 days before (project default)."""
    lc = lifecycle_for("hanam", purpose="remind")
    instance = slapd_for("hanam", "remind")
    lc.add(AddRequest("agency", "Sở Tài chính"))
    three_months_ago = NOW - relativedelta(months=3)
    soon = person(lc, "Lý Văn Sớm", 1, 0)
    later = person(lc, "Lý Văn Muộn", 1, 0)
    locked = person(lc, "Lý Văn Khóa", 1, 0, govmailAccountStatus="locked", govmailLockReason="inactivity",
                    govmailLoginEnabled="FALSE", govmailLockedAt=ago(1))
    fresh = person(lc, "Lý Văn Mới", 1, 10)
    for address, left in ((soon, 2.5), (later, 10), (locked, 2.5)):
        set_password_age(lc, address, three_months_ago + dt.timedelta(days=left))
    outbox = tmp_path / "outbox"

    assert sweep(instance, "--outbox", str(outbox)) == {("remind", soon, "password_expired", "due"),
                                                        ("remind", later, "password_expired", "due")}
    sent = {m["To"]: m for m in mails(outbox)}
    assert set(sent) == {soon, later}, "one reminder each, none for the locked mailbox"
    deadline = (NOW + dt.timedelta(days=2.5)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert f"{deadline:%d/%m/%Y}" in str(sent[soon]["Subject"])
    body = sent[soon].get_content()
    assert "27/2023/QĐ-UBND Điều 8.2.a" in body and "https://mail.hanam.gov.vn/" in body and "Lý Văn Sớm" in body
    assert sweep(instance, "--outbox", str(outbox)) == set(), "a second run sends nothing new"
    assert len(mails(outbox)) == 2

    # Days pass: the mailbox reminded 14 days before gets its 3-day reminder, once.
    set_password_age(lc, later, three_months_ago + dt.timedelta(days=2))
    assert sweep(instance, "--outbox", str(outbox)) == {("remind", later, "password_expired", "due")}
    assert sweep(instance, "--outbox", str(outbox)) == set()
    assert [m["To"] for m in mails(outbox)].count(later) == 2

    shown = subprocess.run([sys.executable, "-m", "govmail.cli", "account", "show", soon, "--province", "hanam",
                            "--server", instance.url], capture_output=True, text=True, check=True).stdout
    reminder_line = next(line for line in shown.splitlines() if line.startswith("reminders"))
    first_day = (NOW + dt.timedelta(days=2.5) - dt.timedelta(days=14)).date()
    assert f"{first_day:%Y-%m-%d}" in reminder_line and "last sent 3 days before" in reminder_line

    # A changed password starts afresh: nothing is due for months.
    set_password_age(lc, soon, NOW)
    assert sweep(instance, "--outbox", str(outbox)) == set()
    assert lc.find(fresh).reminded is None


def test_names_made_before_the_address_book_folded_them_are_folded_once(lifecycle_for, slapd_for):
    """An entry from before govmailSearchName (none), and one renamed outside govmail (a stale one): the
    address book could not find them typed without accents until the sweep folds their names, once."""
    lc = lifecycle_for("hanam", purpose="fold")
    instance = slapd_for("hanam", "fold")
    lc.add(AddRequest("agency", "Sở Xây dựng"))
    old = person(lc, "Đỗ Thị Hằng", 1, 10)
    renamed = person(lc, "Phạm Văn Bình", 1, 10)
    assert lc.conn.modify(lc.find(old).dn, {"govmailSearchName": [(ldap3.MODIFY_DELETE, [])]}), lc.conn.result
    assert lc.conn.modify(lc.find(renamed).dn, {"cn": [(ldap3.MODIFY_REPLACE, ["Phạm Văn Bảo"])]}), lc.conn.result
    expected = {("fold", old, "address-book", "name"), ("fold", renamed, "address-book", "name")}
    assert sweep(instance, "--dry-run") == {("would",) + line[:3] for line in expected}
    assert lc.find(old).search_name is None, "a dry run changes nothing"
    assert sweep(instance) == expected
    assert (lc.find(old).search_name, lc.find(renamed).search_name) == ("do thi hang", "pham van bao")
    assert sweep(instance) == set()
