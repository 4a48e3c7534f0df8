"""What a stolen password or a password guesser can do, and what an operator's lock still means: the sending
limits of a logged-in user, slapd's failure lock that ends by itself, a wrong webmail password counted once."""

import http.cookiejar
import imaplib
import os
import re
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import ldap3
import pytest
import yaml
from mailflow import govmail, imap_login, message, new_mailbox, smtp

from govmail import lab
from govmail.build.layout import POSTFIX_LOG, ROUNDCUBE_LOGINS

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
INVENTORY_FILE = REPO / "inventories" / "lab" / "govmail.yml"
SHORT_LOCK_SECONDS = 20


def logged_in(env, address, password):
    conn = smtp(env)
    conn.starttls(context=env.tls)
    conn.ehlo("client.lab")
    conn.login(address, password)
    return conn


def test_one_message_reaches_at_most_the_recipient_limit(env):
    _, alice, password = new_mailbox(env)
    limit = env.s.defences.recipients_per_message
    with logged_in(env, alice, password) as conn:
        assert conn.mail(alice)[0] == 250
        answers = [conn.rcpt(alice)[0] for _ in range(limit + 1)]
    assert answers[:limit] == [250] * limit
    assert answers[limit] == 452, "the recipient over the limit is deferred (4xx), not accepted"


def test_a_sender_over_the_hourly_limit_is_told_to_retry_later(env, host):
    _, alice, password = new_mailbox(env)
    per_message, per_hour = env.s.defences.recipients_per_message, env.s.defences.recipients_per_hour
    body = message(alice, alice, subject="Thông báo").as_bytes()
    accepted, refusal = 0, None
    with logged_in(env, alice, password) as conn:
        while refusal is None and accepted <= per_hour:
            assert conn.mail(alice)[0] == 250
            for _ in range(per_message):
                conn.rcpt(alice)
            try:
                assert conn.data(body)[0] == 250
                accepted += per_message
            except smtplib.SMTPDataError as err:      # DATA itself refused
                refusal = (err.smtp_code, err.smtp_error)
    assert refusal and 400 <= refusal[0] < 500 and b"Sending limit" in refusal[1], refusal
    assert per_hour - per_message <= accepted <= per_hour, accepted
    log = host.check_output(f"grep -a 'Sending limit' {POSTFIX_LOG} | tail -n 5")
    assert f"sasl_username={alice}" in log or alice in log


@pytest.fixture
def short_failure_lock(redeploy):
    """The inventory's lockout_duration override, short, for the drill; the inventory as it was afterwards."""
    if os.environ.get("GOVMAIL_TEST_PROVINCE"):
        pytest.skip("the lock's expiry does not depend on the province: drilled once, in the first suite")
    before = INVENTORY_FILE.read_text()
    data = yaml.safe_load(before)
    data.setdefault("overrides", {})["lockout_duration"] = f"{SHORT_LOCK_SECONDS} seconds"
    INVENTORY_FILE.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        assert redeploy()["errors"] == 0
        yield SHORT_LOCK_SECONDS
    finally:
        INVENTORY_FILE.write_text(before)
        assert redeploy()["errors"] == 0


def test_a_failure_lock_ends_by_itself_an_operators_lock_does_not(env, short_failure_lock):
    _, guessed, password = new_mailbox(env)
    _, held, held_password = new_mailbox(env)
    for _ in range(env.s.policies["users"].max_failures):
        with pytest.raises(imaplib.IMAP4.error):
            imap_login(env, guessed, "Sai-mat-khau-1")
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, guessed, password)          # locked: even the right password is refused now
    assert "ends by itself" in govmail("account", "show", guessed).stdout
    govmail("account", "lock", held, "--reason", "drill")
    time.sleep(short_failure_lock + 2)
    imap_login(env, guessed, password).logout()     # no operator acted
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, held, held_password)
    shown = govmail("account", "show", held).stdout
    assert re.search(r"status\s+locked", shown) and re.search(r"failure lock\s+-", shown)


def failures_recorded(env, dn) -> int:
    env.admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["pwdFailureTime"])
    return len(env.admin.entries[0].entry_attributes_as_dict.get("pwdFailureTime", []))


def webmail_session(env):
    """Roundcube's login page opened as a browser would: (opener with cookies, base URL, headers, token)."""
    jar = http.cookiejar.CookieJar()
    https = urllib.request.HTTPSHandler(context=env.tls)
    opener = urllib.request.build_opener(https, urllib.request.HTTPCookieProcessor(jar))
    base = f"https://{env.address}/"
    headers = {"Host": env.s.mail_host}
    page = opener.open(urllib.request.Request(base, headers=headers), timeout=30).read().decode()
    return opener, base, headers, re.search(r'name="_token" value="([^"]+)"', page).group(1)


def test_a_wrong_webmail_password_counts_once(env):
    dn, address, _ = new_mailbox(env)
    opener, base, headers, token = webmail_session(env)
    form = urllib.parse.urlencode({"_token": token, "_task": "login", "_action": "login", "_timezone": "Asia/Ho_Chi_Minh",
                                   "_user": address, "_pass": "Sai-mat-khau-1"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(urllib.request.Request(base + "?_task=login", data=form, headers=headers), timeout=30)
    assert refused.value.code == 401
    assert failures_recorded(env, dn) == 1
    log = lab.ssh(env.host, [f"tail -n 20 {ROUNDCUBE_LOGINS}"]).stdout
    assert f"Failed login for {address}" in log, "fail2ban reads this line"


def test_dovecot_sees_the_browsers_address_for_a_webmail_login(env, once):
    """Roundcube tells Dovecot who the browser is (IMAP ID), so penalties and bans hit the browser, not
    every webmail user behind 127.0.0.1."""
    _, address, password = new_mailbox(env)
    opener, base, headers, token = webmail_session(env)
    form = urllib.parse.urlencode({"_token": token, "_task": "login", "_action": "login", "_timezone": "Asia/Ho_Chi_Minh",
                                   "_user": address, "_pass": password}).encode()
    opener.open(urllib.request.Request(base + "?_task=login", data=form, headers=headers), timeout=60)
    log = lab.ssh(env.host, [f"journalctl -u dovecot --no-pager -n 300 | grep 'imap-login: Logged in: user=<{address}>'"]).stdout
    browser = lab.GATEWAY       # the suite's client: the lab's controller on the bridge
    assert f"rip={browser}," in log and "rip=127.0.0.1" not in log, log
