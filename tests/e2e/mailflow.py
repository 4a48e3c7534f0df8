"""Helpers for the mail-flow tests: mailboxes made the way an operator makes them, real SMTP and IMAP
clients. The `env` fixture that these take lives in conftest.py."""

import email
import email.policy
import imaplib
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
from govmail.build import dnsrecords

ISSUED = "Cap#Phat2026xyz"
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
    lab.serve_records(found)
    return found


def new_mailbox(env, quota: int | None = None, change_password: bool = True, **attrs) -> tuple[str, str, str]:
    """A personal mailbox made the way an operator makes one; returns (dn, address, password)."""
    s = env.s
    uid = f"t{uuid.uuid4().hex[:10]}"
    dn, address = f"uid={uid},ou=people,{s.base_dn}", f"{uid}@{s.domain}"
    assert env.admin.add(dn, ["inetOrgPerson", "govmailMailbox"], {
        "cn": "Người Thử", "sn": "Thử", "uid": uid, "mail": address, "govmailMailboxKind": "personal",
        "govmailQuotaBytes": str(quota if quota is not None else s.quotas["personal"].bytes or 0), **attrs}), \
        env.admin.result
    env.made.append(dn)
    assert env.admin.extend.standard.modify_password(dn, new_password=ISSUED)
    if not change_password:
        return dn, address, ISSUED
    special = s.policies["users"].class_chars["special"][0]
    chosen = f"Vn{special}2026{uid[-4:]}{special}Khau"
    user = ldap3.Connection(env.server, dn, ISSUED, auto_bind=True)
    assert user.extend.standard.modify_password(dn, None, chosen), user.result
    return dn, address, chosen


def smtp(env, port=587) -> smtplib.SMTP:
    conn = smtplib.SMTP(env.address, port, timeout=20)
    conn.ehlo("client.lab")
    return conn


def submit(env, sender, password, message) -> None:
    with smtp(env) as conn:
        conn.starttls(context=env.tls)
        conn.ehlo("client.lab")
        conn.login(sender, password)
        conn.send_message(message)


def message(sender, to, subject="Thư công vụ thử nghiệm", body="Xin chào, đây là thư thử nghiệm.") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body)
    return msg


def imap_login(env, address, password) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL(env.address, 993, ssl_context=env.tls)
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
    special = env.s.policies["users"].class_chars["special"][0]
    chosen = f"Vn{special}2026{uuid.uuid4().hex[:4]}{special}Khau"
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
    out = lab.ssh(env.host, [f"doveadm -f flow mailbox status -u {address} messages {mailbox}"]).stdout
    return int(out.split("messages=")[1].split()[0])


def messages(env, address, mailbox="INBOX") -> list[EmailMessage]:
    """Every message in the mailbox, parsed, read on the host (doveadm: no password needed)."""
    run = lab.ssh(env.host, [f"doveadm -f json fetch -u {address} text mailbox {mailbox}"])
    return [email.message_from_string(found["text"], policy=email.policy.default)
            for found in json.loads(run.stdout or "[]")]


def plain_text(msg: EmailMessage) -> str:
    """The message's plain-text body (a multipart one's text/plain part)."""
    return msg.get_body(preferencelist=("plain",)).get_content()
