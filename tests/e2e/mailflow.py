"""Helpers for the mail-flow tests: mailboxes made the way an operator makes them, real SMTP and IMAP
clients. The `env` fixture that these take lives in conftest.py."""

import email
import email.policy
import imaplib
import inspect
import json
import os
import smtplib
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import ldap3

from govmail import lab
from govmail.build import dnsrecords, layout
from govmail.lab import mailflow as shared
from govmail.lab.mailflow import ISSUED

REPO = Path(__file__).resolve().parents[2]


def govmail(*args, check: bool = True) -> subprocess.CompletedProcess:
    """The operator's CLI against the lab inventory (for the province under test), as the README runs it;
    it must succeed unless `check` is off."""
    province = os.environ.get("GOVMAIL_TEST_PROVINCE")
    proc = subprocess.run([sys.executable, "-m", "govmail.cli", *args, "--inventory", "inventories/lab",
                           *(["--province", province] if province else [])], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 or not check, proc.stderr
    return proc


def publish() -> list:
    """`govmail dns --json` for the province under test, served by the lab DNS from now on (as the province's
    own DNS would serve it once the operator has published it)."""
    found = [dnsrecords.Record(**r) for r in json.loads(govmail("dns", "--json").stdout)]
    lab.publish_records(found)
    return found


def new_mailbox(env, quota: int | None = None, change_password: bool = True, **attrs) -> tuple[str, str, str]:
    """A personal mailbox made the way an operator makes one; returns (dn, address, password)."""
    s = env.s
    uid = f"t{uuid.uuid4().hex[:10]}"
    chosen = shared.chosen_password(s, uid[-4:]) if change_password else None
    dn, address = shared.make_mailbox(env.admin, s, uid, quota if quota is not None else s.quotas["personal"].bytes or 0,
                                      chosen, server=env.server, **attrs)
    env.made.append(dn)
    return dn, address, chosen or ISSUED


def smtp(env, port=587) -> smtplib.SMTP:
    conn = smtplib.SMTP(env.address, port, timeout=20)
    conn.ehlo("client.lab")
    return conn


def rcpt_reply(env, sender, password, recipient) -> tuple[int, bytes]:
    """What submission (587) answers to RCPT TO `recipient` from a logged-in `sender`, before any data."""
    with smtp(env) as conn:
        conn.starttls(context=env.tls)
        conn.ehlo("client.lab")
        conn.login(sender, password)
        conn.mail(sender)
        return conn.rcpt(recipient)


def submit(env, sender, password, message) -> None:
    with smtp(env) as conn:
        conn.starttls(context=env.tls)
        conn.ehlo("client.lab")
        conn.login(sender, password)
        conn.send_message(message)


def message(sender, to, subject="Thư công vụ thử nghiệm", body="Xin chào, đây là thư thử nghiệm.") -> EmailMessage:
    return shared.compose(sender, to, subject, body)


def imap_login(env, address, password) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL(env.address, 993, ssl_context=env.tls, timeout=60)   # a hung session fails, not waits
    conn.login(address, password)
    return conn


def inbox_subjects(env, address, password, wait=10.0) -> list[str]:
    """Decoded subjects in the INBOX, waiting up to `wait` seconds for the first message."""
    deadline = time.monotonic() + wait
    while True:
        conn = imap_login(env, address, password)
        conn.select("INBOX", readonly=True)
        found = []
        for num in conn.search(None, "ALL")[1][0].split():
            raw = conn.fetch(num, "(BODY.PEEK[HEADER])")[1][0][1]
            found.append(str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]))
        conn.logout()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def choose_password(env, address, issued) -> str:
    """What a user does at first login: replace the issued password, through the directory's policy."""
    dn = env.admin.search(env.s.base_dn, f"(mail={address})") and env.admin.entries[0].entry_dn
    chosen = shared.chosen_password(env.s, uuid.uuid4().hex[:4])
    user = ldap3.Connection(env.server, dn, issued, auto_bind=True)
    assert user.extend.standard.modify_password(dn, None, chosen), user.result
    return chosen


def wait_delivered(env, address, count, wait=15.0, mailbox="INBOX") -> int:
    """The mailbox's message count once it reaches `count`, or after `wait` seconds."""
    deadline = time.monotonic() + wait
    while delivered_count(env, address, mailbox) < count and time.monotonic() < deadline:
        time.sleep(0.3)
    return delivered_count(env, address, mailbox)


def delivered_count(env, address, mailbox="INBOX") -> int:
    return shared.delivered_count(env.host, address, mailbox)


def postfix_log(env) -> list[str]:
    """The lines of Postfix's log on the host (layout.POSTFIX_LOG)."""
    return lab.ssh(env.host, [f"cat {layout.POSTFIX_LOG}"]).stdout.splitlines()


def messages(env, address, mailbox="INBOX") -> list[EmailMessage]:
    """Every message in the mailbox, parsed, read on the host (doveadm: no password needed)."""
    return shared.messages(env.host, address, mailbox)


def plain_text(msg: EmailMessage) -> str:
    """The message's plain-text body (a multipart one's text/plain part)."""
    return msg.get_body(preferencelist=("plain",)).get_content()


def send_one(conn: smtplib.SMTP, sender: str, to: str, mid: str, msg: str | bytes, unacknowledged: set) -> None:
    """One message on an open session. A broken connection during DATA leaves `mid` in `unacknowledged`: the
    server may have kept it, and the retry makes a second copy. (Shipped to `outside` as source.)"""
    for command, args, good in (("mail", (sender,), (250,)), ("rcpt", (to,), (250, 251))):
        code, reply = getattr(conn, command)(*args)
        if code not in good:
            raise smtplib.SMTPResponseException(code, reply)
    try:
        code, reply = conn.data(msg)      # unlike sendmail(), data() returns a refusal of the message
    except smtplib.SMTPResponseException:
        raise
    except (OSError, smtplib.SMTPException):
        unacknowledged.add(mid)
        raise
    if code != 250:
        raise smtplib.SMTPResponseException(code, reply)


# Runs on `outside`: sends the messages over port 25, a few per connection as a mail server does, retrying a
# message on a 4xx or a broken connection for up to 5 minutes; prints what each message met last and which
# lost the reply to their data.
OUTSIDE_SENDER = "import json, smtplib, sys, time\n" + inspect.getsource(send_one) + """
host, to, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
outcome, unacknowledged = {}, set()
pending = [f"<{tag}-out-{n}@ngoai.test>" for n in range(count)]
deadline = time.monotonic() + 300
while pending and time.monotonic() < deadline:
    try:
        with smtplib.SMTP(host, 25, timeout=30) as s:
            s.ehlo("mail.ngoai.test")
            for mid in list(pending[:5]):
                msg = f"From: tin@ngoai.test\\r\\nTo: {to}\\r\\nSubject: luong {mid}\\r\\nMessage-ID: {mid}\\r\\n\\r\\nThu thu.\\r\\n"
                try:
                    send_one(s, "tin@ngoai.test", to, mid, msg, unacknowledged)
                    outcome[mid] = 250
                    pending.remove(mid)
                except smtplib.SMTPResponseException as err:
                    outcome[mid] = err.smtp_code
                    if err.smtp_code >= 500:
                        pending.remove(mid)
                    break
    except (OSError, smtplib.SMTPException):
        pass
    time.sleep(0.3 if not pending else 1)
print(json.dumps({"outcome": outcome, "unacknowledged": sorted(unacknowledged)}))
"""
