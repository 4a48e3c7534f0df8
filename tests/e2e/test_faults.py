"""Faults that lose nothing (marker `drill`: run once, in the drill phase of scripts/test): a steady stream of
mail from outside (port 25) and from a logged-in user (submission) while slapd, Dovecot, spamd and Postfix
are restarted one after another and then the host itself is rebooted. Senders behave as mail servers and programs do: a 4xx or a broken
connection means "try the same message again later". Every message arrives and none bounces. SMTP cannot
rule out a second copy (RFC 5321 §6.1): a restart may cut the reply to a message's end of data after the
message was kept, and the sender sends it again. The mailbox drops such a copy (govmail's Sieve rules keep
one message per Message-ID a day); a restart in the instant between Dovecot keeping a message and noting
its Message-ID could still leave two. So a second copy is allowed only where a cut reply is on record: its
sender lost that reply, or Postfix's log says a delivery of it "may be sent more than once" or logs it
delivered twice."""

import json
import re
import smtplib
import subprocess
import threading
import time
import uuid
from collections import Counter
from email.policy import SMTP

import pytest

from govmail import lab
from govmail.accounts import directory
from mailflow import OUTSIDE_SENDER, message, messages, new_mailbox, postfix_log, send_one, smtp

pytestmark = [pytest.mark.e2e, pytest.mark.drill]

EACH = 100                      # messages from each side
RESTARTS = ("slapd", "dovecot", "spamd", "postfix")


def submit_stream(env, sender, password, to, tag, outcome: dict, unacknowledged: set) -> None:
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
                    send_one(conn, sender, to, mid, msg.as_bytes(policy=SMTP), unacknowledged)
                outcome[mid] = 250
                break
            except (OSError, smtplib.SMTPException) as err:
                code = getattr(err, "smtp_code", 0)
                outcome[mid] = code
                if code >= 500:
                    break
                time.sleep(1)
        time.sleep(0.3)


def boot_id(host) -> str:
    """The running boot's id ('' while the host does not answer)."""
    try:
        return lab.ssh(host, ["cat /proc/sys/kernel/random/boot_id"], check=False, timeout=20).stdout.strip()
    except subprocess.TimeoutExpired:
        return ""


def reboot(host) -> None:
    """Reboot the host and wait until it is up again with every unit started (none failed)."""
    before = boot_id(host)
    lab.ssh(host, ["systemctl reboot"], check=False)
    deadline = time.monotonic() + 240
    while boot_id(host) in ("", before):
        assert time.monotonic() < deadline, f"{host.name} did not come back within 4 minutes"
        time.sleep(2)
    state = lab.ssh(host, ["systemctl is-system-running --wait"], check=False, timeout=240).stdout.strip()
    assert state == "running", lab.ssh(host, ["systemctl --failed --no-legend"], check=False).stdout


def logged_twice(env, tag: str) -> set[str]:
    """Message-IDs (with `tag`) that Postfix's log says may have been delivered more than once: a delivery
    whose outcome a restart cut ("may be sent more than once"), or one logged sent twice."""
    log = "\n".join(postfix_log(env))
    queued = dict(re.findall(rf"\b([0-9A-F]{{6,}}|[0-9A-Za-z]{{12,}}): message-id=(<{tag}-[^>]+>)", log))
    sent = Counter(re.findall(r"\b(\w+): to=<[^>]+>.*status=sent", log))
    uncertain = set(re.findall(r"\b(\w+): .*may be sent more than once", log))
    return {mid for qid, mid in queued.items() if qid in uncertain or sent[qid] > 1}


def test_a_stream_of_mail_survives_restarts_of_every_service_and_a_reboot(outside, env, ldap_server):
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
    submitted, unacknowledged = {}, set()
    submitter = threading.Thread(target=submit_stream,
                                 args=(env, sender, password, to, tag, submitted, unacknowledged))
    submitter.start()
    for service in RESTARTS:
        time.sleep(8)
        lab.ssh(env.host, [f"systemctl restart {service}"])
    time.sleep(4)
    reboot(env.host)
    assert len(submitted) < EACH, "the stream still runs when the host is back"
    env.server = ldap_server()                    # the reboot ended the tunnel
    env.admin = directory.connect(env.s)          # and the old connection
    submitter.join(timeout=400)
    out, err = outside_run.communicate(timeout=400)
    from_outside = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    assert from_outside and not submitter.is_alive(), err
    sent = {**from_outside["outcome"], **submitted}
    assert {mid: code for mid, code in sent.items() if code != 250} == {}, "every message taken, none refused"
    assert len(sent) == 2 * EACH
    # Mail the restarts deferred waits in Postfix's queue; its next run would send it within minutes.
    lab.ssh(env.host, ["postqueue -f"])
    deadline, arrived = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        arrived = [str(m["Message-ID"]) for m in messages(env, to) if re.search(tag, str(m["Message-ID"]))]
        if len(set(arrived)) >= len(sent):
            break
        time.sleep(5)
    counts = Counter(arrived)
    assert [mid for mid in sent if counts[mid] == 0] == [], "every message arrives"
    on_record = unacknowledged | set(from_outside["unacknowledged"]) | logged_twice(env, tag)
    copies = {mid: n for mid, n in counts.items() if n > 1}
    print(f"{len(sent)} messages, {len(on_record)} with a cut reply on record, {len(copies)} arrived twice")
    assert {mid: n for mid, n in copies.items() if mid not in on_record or n > 2} == {}, \
        "a second copy only where a restart cut a reply, and never a third"
    bounces = [m for m in messages(env, sender) if "Undelivered" in str(m["Subject"])]
    assert bounces == []
