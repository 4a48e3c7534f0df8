"""Notices to agencies (a mailbox locked or revoked), sent over SMTP to the mail host, or written as .eml
files to an outbox directory when there is no mail host to talk to (a dry environment, tests of the
directory alone)."""

from __future__ import annotations

import smtplib
from email.mime.text import MIMEText
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from .errors import GovmailError

SENDER_NAME = "Quản trị hệ thống thư điện tử công vụ"


class NoticeFailed(GovmailError):
    exit_code = 1


class Notifier:
    def __init__(self, domain: str, smtp_host: str | None = None, smtp_port: int = 25, outbox: Path | None = None):
        self.domain, self.smtp_host, self.smtp_port, self.outbox = domain, smtp_host, smtp_port, outbox

    def message(self, to: str, subject: str, body: str) -> MIMEText:
        # The compat32 API: the newer EmailMessage folds Vietnamese headers at ~40 ms a message.
        msg = MIMEText(body, "plain", "utf-8")
        msg["From"] = formataddr((SENDER_NAME, f"postmaster@{self.domain}"), charset="utf-8")
        msg["To"], msg["Subject"] = to, Header(subject, "utf-8")
        msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid(domain=self.domain)
        return msg

    def send(self, to: str, subject: str, body: str) -> None:
        msg = self.message(to, subject, body)
        if self.outbox:
            self.outbox.mkdir(parents=True, exist_ok=True)
            (self.outbox / f"{msg['Message-ID'].strip('<>')}.eml").write_bytes(msg.as_bytes())
        else:
            try:
                with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=30) as smtp:
                    smtp.send_message(msg)
            except (OSError, smtplib.SMTPException) as err:
                raise NoticeFailed(f"notice to {to} not sent through {self.smtp_host}:{self.smtp_port}: {err}; "
                                   "the change itself is done, send the notice by hand") from None
