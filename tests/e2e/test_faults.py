"""Faults that lose nothing (marker `drill`: run once, in the drill phase of scripts/test): a steady stream of
mail from outside (port 25) and from a logged-in user (submission) while slapd, Dovecot, spamd and Postfix
are restarted one after another. Senders behave as mail servers and programs do: a 4xx or a broken
connection means "try the same message again later". Every message arrives exactly once; none bounces."""

import json
import re
import smtplib
import subprocess
import threading
import time
import uuid

import pytest

from govmail import lab
from govmail.accounts import directory
from mailflow import message, messages, new_mailbox, smtp

pytestmark = [pytest.mark.e2e, pytest.mark.drill]

EACH = 100                      # messages from each side
RESTARTS = ("slapd", "dovecot", "spamd", "postfix")

# Runs on `outside`: sends the messages over port 25, a few per connection as a mail server does, retrying a
# message on a 4xx or a broken connection for up to 5 minutes; prints what each message met last.
OUTSIDE_SENDER = """
import json, smtplib, sys, time
host, to, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
outcome = {}
pending = [f"<{tag}-out-{n}@ngoai.test>" for n in range(count)]
deadline = time.monotonic() + 300
while pending and time.monotonic() < deadline:
    try:
        with smtplib.SMTP(host, 25, timeout=30) as s:
            s.ehlo("mail.ngoai.test")
            for mid in list(pending[:5]):
                msg = f"From: tin@ngoai.test\\r\\nTo: {to}\\r\\nSubject: luong {mid}\\r\\nMessage-ID: {mid}\\r\\n\\r\\nThu thu.\\r\\n"
                try:
                    s.sendmail("tin@ngoai.test", [to], msg)
                    outcome[mid] = 250
                    pending.remove(mid)
                except smtplib.SMTPResponseException as err:
                    outcome[mid] = err.smtp_code
                    if err.smtp_code >= 500:
                        pending.remove(mid)
                    break
                except smtplib.SMTPRecipientsRefused as err:
                    code = list(err.recipients.values())[0][0]
                    outcome[mid] = code
                    if code >= 500:
                        pending.remove(mid)
                    break
    except (OSError, smtplib.SMTPException):
        pass
    time.sleep(0.3 if not pending else 1)
print(json.dumps(outcome))
"""


def submit_stream(env, sender, password, to, tag, outcome: dict) -> None:
    """Submission from a mail program: one message per connection, retried on 4xx or a broken connection."""
    deadline = time.monotonic() + 300
    for n in range(EACH):
        mid = f"<{tag}-sub-{n}@{env.s.domain}>"
        msg = message(sender, to, subject=f"luong {mid}")
        msg["Message-ID"] = mid
        while time.monotonic() < deadline:
            try:
                with smtp(env) as conn:
                    conn.starttls(context=env.tls)
                    conn.ehlo("client.lab")
                    conn.login(sender, password)
                    conn.send_message(msg)
                outcome[mid] = 250
                break
            except (OSError, smtplib.SMTPException) as err:
                code = getattr(err, "smtp_code", 0)
                outcome[mid] = code
                if code >= 500:
                    break
                time.sleep(1)
        time.sleep(0.3)


def test_a_stream_of_mail_survives_restarts_of_every_service(outside, env, ldap_server):
    env.server = ldap_server()      # through a live tunnel: the backup drill before may have rebuilt the host
    _, to, _ = new_mailbox(env)
    _, sender, password = new_mailbox(env)
    tag = uuid.uuid4().hex[:8]
    script = "/tmp/govmail-stream.py"
    subprocess.run(lab.ssh_command(outside, [f"cat > {script}"]), input=OUTSIDE_SENDER, text=True, check=True,
                   timeout=60)
    outside_run = subprocess.Popen(lab.ssh_command(outside, ["python3", script, env.address, to, tag, str(EACH)]),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
    submitted: dict = {}
    submitter = threading.Thread(target=submit_stream, args=(env, sender, password, to, tag, submitted))
    submitter.start()
    for service in RESTARTS:
        time.sleep(8)
        lab.ssh(env.host, [f"systemctl restart {service}"])
    env.admin = directory.connect(env.s)          # slapd's restart ended the old connection
    submitter.join(timeout=400)
    out, err = outside_run.communicate(timeout=400)
    from_outside = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    assert from_outside and not submitter.is_alive(), err
    sent = {**from_outside, **submitted}
    assert {mid: code for mid, code in sent.items() if code != 250} == {}, "every message taken, none refused"
    assert len(sent) == 2 * EACH
    # Mail the restarts deferred waits in Postfix's queue; its next run would send it within minutes.
    lab.ssh(env.host, ["postqueue -f"])
    deadline, arrived = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        arrived = [str(m["Message-ID"]) for m in messages(env, to) if re.search(tag, str(m["Message-ID"]))]
        if len(arrived) >= len(sent):
            break
        time.sleep(5)
    counts = {mid: arrived.count(mid) for mid in sent}
    assert {mid: n for mid, n in counts.items() if n != 1} == {}, "each message exactly once"
    bounces = [m for m in messages(env, sender) if "Undelivered" in str(m["Subject"])]
    assert bounces == []
