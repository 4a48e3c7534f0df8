"""Real mail over real sockets against a host deployed by either engine (GOVMAIL_ENGINE): smtplib, imaplib, ldap3."""

import imaplib
import shlex
import smtplib
import time
from email.utils import make_msgid

import ldap3
import pytest
from mailflow import (delivered_count, imap_login, inbox_subjects, message, messages, new_mailbox, postfix_log,
                      rcpt_reply, smtp, submit, wait_delivered)
from test_outsider import SEND, probe

from govmail import lab

pytestmark = pytest.mark.e2e


def test_mail_submitted_with_auth_on_587_arrives_in_the_inbox(env):
    _, alice, alice_pw = new_mailbox(env)
    _, bob, bob_pw = new_mailbox(env)
    submit(env, alice, alice_pw, message(alice, bob, subject="Giấy mời họp"))
    assert "Giấy mời họp" in inbox_subjects(env, bob, bob_pw)


@pytest.mark.parametrize("port", [25, 587])
def test_no_auth_before_tls(env, port):
    with smtp(env, port) as conn:
        assert not conn.has_extn("auth")
        code, _ = conn.docmd("AUTH", "PLAIN AGFAYg==")
        assert code >= 500


def test_unauthenticated_relay_to_outside_is_refused(env):
    with smtp(env, 25) as conn:
        conn.mail("someone@ngoai.test")
        code, reply = conn.rcpt("victim@ngoai.test")
        assert code == 554 and b"Relay access denied" in reply


def test_sender_must_own_the_address(env):
    _, alice, alice_pw = new_mailbox(env)
    _, bob, _ = new_mailbox(env)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        submit(env, alice, alice_pw, message(bob, alice))
    assert b"not owned by user" in str(err.value).encode()


def test_a_logged_in_sender_cannot_sign_with_a_colleagues_name(env):
    """The envelope is the sender's own; the From: header names a colleague (or the agency's head)."""
    _, alice, alice_pw = new_mailbox(env)
    _, bob, _ = new_mailbox(env)
    forged = message(f"Giám đốc Sở <{bob}>", alice, subject="Chỉ đạo khẩn")
    with smtp(env) as conn:
        conn.starttls(context=env.tls)
        conn.ehlo("client.lab")
        conn.login(alice, alice_pw)
        with pytest.raises(smtplib.SMTPDataError) as err:
            conn.send_message(forged, from_addr=alice)
    assert err.value.smtp_code == 550 and b"must be your own address" in err.value.smtp_error


def test_message_over_the_attachment_limit_is_refused(env):
    _, alice, alice_pw = new_mailbox(env)
    too_big = env.s.message_size_limit + 1
    with smtp(env) as conn:
        conn.starttls(context=env.tls)
        conn.ehlo("client.lab")
        conn.login(alice, alice_pw)
        code, reply = conn.mail(alice, [f"SIZE={too_big}"])
        assert code == 552, reply


def test_full_mailbox_refuses_the_next_message_at_rcpt(env):
    """Dovecot lets the last delivery overshoot a little (its quota grace); once the mailbox is over its
    quota, the next message is refused at RCPT, before Postfix accepts it."""
    _, alice, alice_pw = new_mailbox(env)
    _, small, _ = new_mailbox(env, quota=200_000)
    for n in (1, 2):     # 150 KB fits; the second goes over through the grace
        submit(env, alice, alice_pw, message(alice, small, body="x" * 150_000))
        wait_delivered(env, small, n, wait=10)
    assert delivered_count(env, small) >= 2     # the two messages, and quota warnings on top
    code, reply = rcpt_reply(env, alice, alice_pw, small)
    assert code == 552 and b"Mailbox full" in reply


def test_issued_password_opens_neither_imap_nor_smtp(env):
    _, address, issued = new_mailbox(env, change_password=False)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, address, issued)
    with smtp(env) as conn:
        conn.starttls(context=env.tls)
        conn.ehlo("client.lab")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            conn.login(address, issued)


def test_locked_mailbox_cannot_log_in_but_still_receives(env):
    if not env.s.locked_still_receives:
        pytest.skip(f"{env.s.province}: a locked mailbox receives nothing (no profile says so today)")
    _, alice, alice_pw = new_mailbox(env)
    dn, locked, locked_pw = new_mailbox(env)
    assert env.admin.modify(dn, {"govmailLoginEnabled": [(ldap3.MODIFY_REPLACE, ["FALSE"])]})
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, locked, locked_pw)
    submit(env, alice, alice_pw, message(alice, locked, subject="Vẫn nhận thư"))
    deadline = time.monotonic() + 10
    while delivered_count(env, locked) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert delivered_count(env, locked) == 1


def wait_handed_to_dovecot(env, address: str, count: int, wait: float = 20.0) -> int:
    """How many messages to `address` Postfix has handed to Dovecot (its log: status=sent), once `count`."""
    deadline, handed = time.monotonic() + wait, 0
    while time.monotonic() < deadline:
        handed = sum(f"to=<{address}>" in l and "status=sent" in l for l in postfix_log(env))
        if handed >= count:
            break
        time.sleep(0.5)
    return handed


def test_a_message_sent_again_lands_once(env, once):
    """A mail program or server that lost the reply to its end of data sends the message again (RFC 5321
    §6.1): the mailbox keeps one copy. The same words under a Message-ID of their own are another message."""
    _, alice, alice_pw = new_mailbox(env)
    _, bob, _ = new_mailbox(env)
    first, other = message(alice, bob, subject="Gửi lại"), message(alice, bob, subject="Gửi lại")
    first["Message-ID"], other["Message-ID"] = make_msgid(domain=env.s.domain), make_msgid(domain=env.s.domain)
    for msg in (first, first, other):
        submit(env, alice, alice_pw, msg)
    assert wait_handed_to_dovecot(env, bob, 3) == 3
    kept = sorted(str(m["Message-ID"]) for m in messages(env, bob))
    assert kept == sorted([first["Message-ID"], other["Message-ID"]])


def test_mail_without_a_message_id_is_never_taken_for_a_copy(env, outside, once):
    """Postfix adds no Message-ID to mail from other servers: two such messages are both delivered."""
    _, official, _ = new_mailbox(env)
    for _ in range(2):
        found = probe(outside, env, SEND + f"send('tin@{lab.OUTSIDE_DOMAIN}', 'tin@{lab.OUTSIDE_DOMAIN}', "
                                           f"'{official}')")
        assert found["code"] == 250, found
    assert wait_handed_to_dovecot(env, official, 2) == 2
    assert [m["Message-ID"] for m in messages(env, official)] == [None, None]


def forwarding_allowed(env, domain: str) -> bool:
    allowed = env.s.forward_allowed_domains
    return allowed is None or any(domain == d or domain.endswith("." + d) for d in allowed)


def sieve_forward_outcome(log: str, target: str) -> str | None:
    """'refused' or 'accepted' when Postfix's sieve-forward listener has handled mail to `target`."""
    if any("sieve-forward/smtpd" in l and "reject:" in l and f"to=<{target}>" in l for l in log.splitlines()):
        return "refused"
    queued = {l.split(": ")[1] for l in log.splitlines() if "sieve-forward/smtpd" in l and "client=" in l}
    if any(l.split(": ")[1] in queued and f"to=<{target}>" in l for l in log.splitlines() if ": " in l):
        return "accepted"
    return None


def redirect_and_deliver(env, target: str) -> tuple[str, str | None]:
    """A mailbox whose Sieve redirects everything to `target` receives one message."""
    _, alice, alice_pw = new_mailbox(env)
    _, fwd, _ = new_mailbox(env)
    seen = len(postfix_log(env))      # earlier runs (other provinces) redirected to the same targets
    script = shlex.quote(f'redirect "{target}";\n')
    lab.ssh(env.host, [f"printf %s {script} | doveadm sieve put -u {fwd} -a forward"])
    submit(env, alice, alice_pw, message(alice, fwd))
    deadline = time.monotonic() + 15
    outcome = None
    while outcome is None and time.monotonic() < deadline:
        time.sleep(0.5)
        outcome = sieve_forward_outcome("\n".join(postfix_log(env)[seen:]), target)
    return fwd, outcome


@pytest.mark.parametrize("target", ["nguoinhan@ngoai.test", "vanphong@quangninh.gov.vn"])
def test_sieve_redirect_follows_the_forwarding_rule(env, target):
    fwd, outcome = redirect_and_deliver(env, target)
    assert outcome is not None, "Dovecot handed the redirect to the sieve-forward listener"
    assert outcome == ("accepted" if forwarding_allowed(env, target.split("@")[1]) else "refused")
    if outcome == "refused":
        assert delivered_count(env, fwd) == 1, "a refused redirect keeps the mail in the INBOX"


def test_logins_are_recorded_for_the_inactivity_rules(env):
    dn, address, password = new_mailbox(env)

    def last_success():
        env.admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["pwdLastSuccess"])
        return env.admin.entries[0].pwdLastSuccess.value

    before = last_success()
    time.sleep(1.5)
    imap_login(env, address, password).logout()
    after = last_success()
    assert after is not None and (before is None or after > before), "slapd's lastbind keeps the IMAP login"


def test_quota_warning_reaches_the_user(env):
    _, alice, alice_pw = new_mailbox(env)
    _, small, small_pw = new_mailbox(env, quota=200_000)
    submit(env, alice, alice_pw, message(alice, small, body="x" * 170_000))    # ~85 % of the quota
    wait_delivered(env, small, 2)
    subjects = " ".join(inbox_subjects(env, small, small_pw))
    assert delivered_count(env, small) == 2, "the message and the 80 % warning"
    assert "80%" in subjects or "80%25" in subjects


def test_pop3_answers_where_the_profile_names_it(env):
    import poplib
    if "pop3" not in env.s.protocols:
        pytest.skip(f"{env.s.province} names no POP3 (see the next test)")
    _, address, password = new_mailbox(env)
    pop = poplib.POP3_SSL(env.address, 995, context=env.tls, timeout=10)
    pop.user(address)
    pop.pass_(password)
    assert pop.stat()[0] == 0
    pop.quit()


def test_pop3_is_closed_where_the_profile_does_not_name_it(env):
    import poplib
    if "pop3" in env.s.protocols:
        pytest.skip(f"{env.s.province} names POP3 (see the previous test)")
    with pytest.raises(OSError):
        poplib.POP3_SSL(env.address, 995, context=env.tls, timeout=5)
