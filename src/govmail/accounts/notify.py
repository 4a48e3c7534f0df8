"""Notices to agencies (a mailbox locked or revoked): handed to the mail host's own sendmail over SSH (the
operators' path: the province's sender is refused on port 25 from the network), or over SMTP to a host
named with --smtp, or written as .eml files to an outbox directory when there is no mail host to talk to
(a dry environment, tests of the directory alone)."""

from __future__ import annotations

import shlex
import smtplib
import subprocess
from email.mime.text import MIMEText
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from govmail.errors import GovmailError
from govmail.reach import SshTarget

SENDER_NAME = "Quản trị hệ thống thư điện tử công vụ"


class NoticeFailed(GovmailError):
    exit_code = 1


class Notifier:
    def __init__(self, domain: str, smtp_host: str | None = None, smtp_port: int = 25, outbox: Path | None = None,
                 ssh: SshTarget | None = None):
        self.domain, self.smtp_host, self.smtp_port, self.outbox, self.ssh = domain, smtp_host, smtp_port, outbox, ssh

    @property
    def sender(self) -> str:
        return f"postmaster@{self.domain}"

    def message(self, to: str, subject: str, body: str) -> MIMEText:
        # The compat32 API: the newer EmailMessage folds Vietnamese headers at ~40 ms a message.
        msg = MIMEText(body, "plain", "utf-8")
        msg["From"] = formataddr((SENDER_NAME, self.sender), charset="utf-8")
        msg["To"], msg["Subject"] = to, Header(subject, "utf-8")
        msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid(domain=self.domain)
        return msg

    def send(self, to: str, subject: str, body: str) -> None:
        msg = self.message(to, subject, body)
        if self.outbox:
            self.outbox.mkdir(parents=True, exist_ok=True)
            (self.outbox / f"{msg['Message-ID'].strip('<>')}.eml").write_bytes(msg.as_bytes())
        elif self.ssh:
            self._sendmail(to, msg)
        else:
            try:
                with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=30) as smtp:
                    smtp.send_message(msg)
            except (OSError, smtplib.SMTPException) as err:
                raise NoticeFailed(f"notice to {to} not sent through {self.smtp_host}:{self.smtp_port}: {err}; "
                                   "the change itself is done, send the notice by hand") from None

    def sendmail_command(self, to: str) -> list[str]:
        """ssh to the mail host running its sendmail; ssh hands the remote command to a shell there, so
        every word is quoted."""
        words = ("/usr/sbin/sendmail", "-oi", "-f", self.sender, "--", to)
        return [*self.ssh.command(), " ".join(shlex.quote(word) for word in words)]

    def _sendmail(self, to: str, msg: MIMEText) -> None:
        command = self.sendmail_command(to)
        try:
            run = subprocess.run(command, input=msg.as_bytes(), capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            run = None
        if run is None or run.returncode != 0:
            err = run.stderr.decode(errors="replace").strip() if run else "timed out"
            raise NoticeFailed(f"notice to {to} not handed to sendmail on {self.ssh.address}: {err}; "
                               "the change itself is done, send the notice by hand")
