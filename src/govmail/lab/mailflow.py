"""Real mail against a lab host, shared by the tests (tests/e2e/mailflow.py) and the benchmarks (bench/):
mailboxes made the way an operator makes them, messages, and what a mailbox holds, read on the host."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage

import ldap3

from govmail.lab.hosts import ssh
from govmail.lab.state import Host, LabError

ISSUED = "Cap#Phat2026xyz"      # what an operator hands out: its owner must change it before mail flows


def chosen_password(s, tail: str) -> str:
    """A password an owner may choose under the province's policy for users (every class, long enough)."""
    special = s.policies["users"].class_chars["special"][0]
    return f"Vn{special}2026{tail}{special}Khau"


def make_mailbox(admin: ldap3.Connection, s, uid: str, quota_bytes: int, chosen: str | None,
                 server: ldap3.Server | None = None, cn: str = "Người Thử", sn: str = "Thử",
                 **attrs) -> tuple[str, str]:
    """A personal mailbox as the CLI makes one: the entry, the issued password, then (unless `chosen` is None)
    its owner's change to `chosen`, bound through `server` (the admin's own by default). (dn, address)."""
    dn, address = f"uid={uid},ou=people,{s.base_dn}", f"{uid}@{s.domain}"
    if not admin.add(dn, ["inetOrgPerson", "govmailMailbox"], {
            "cn": cn, "sn": sn, "uid": uid, "mail": address, "govmailMailboxKind": "personal",
            "govmailQuotaBytes": str(quota_bytes), **attrs}):
        raise LabError(f"the directory refused the mailbox {address}: {admin.result}")
    if not admin.extend.standard.modify_password(dn, new_password=ISSUED):
        raise LabError(f"the directory refused the issued password of {address}: {admin.result}")
    if chosen is not None:
        user = ldap3.Connection(server or admin.server, dn, ISSUED, auto_bind=True)
        if not user.extend.standard.modify_password(dn, None, chosen):
            raise LabError(f"the directory refused the password {address}'s owner chose: {user.result}")
    return dn, address


def compose(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body)
    return msg


def delivered_count(host: Host, address: str, mailbox: str = "INBOX") -> int:
    out = ssh(host, [f"doveadm -f flow mailbox status -u {address} messages {mailbox}"]).stdout
    return int(out.split("messages=")[1].split()[0])


def messages(host: Host, address: str, mailbox: str = "INBOX") -> list[EmailMessage]:
    """Every message in the mailbox, parsed, read on the host (doveadm: no password needed)."""
    run = ssh(host, [f"doveadm -f json fetch -u {address} text mailbox {mailbox}"])
    return [email.message_from_string(found["text"], policy=email.policy.default)
            for found in json.loads(run.stdout or "[]")]
