"""Each mailbox lives on the store its entry names (govmailStore): Dovecot serves the mailboxes of this host
and proxies logins and deliveries of the others to their store (issue "Several hosts"). On one node every
mailbox is here; a mailbox naming a store that does not answer (the `outside` host, which runs no Dovecot)
shows what the users of a lost store meet: logins are refused as temporarily unavailable, mail for them waits
in the queue (4xx) and nothing bounces."""

import imaplib
import json
import time
import uuid

import pytest
from mailflow import imap_login, message, new_mailbox, submit, wait_delivered

from govmail import lab

pytestmark = pytest.mark.e2e


def queued_for(env, address: str) -> list[dict]:
    """The messages Postfix holds for `address`, from `postqueue -j` on the host."""
    listing = lab.ssh(env.host, ["postqueue", "-j"]).stdout
    return [m for m in map(json.loads, listing.splitlines())
            if any(r["address"] == address for r in m["recipients"])]


def test_a_mailbox_stored_here_is_served_here(env):
    _, address, password = new_mailbox(env)
    assert imap_login(env, address, password).logout()[0] == "BYE"
    submit(env, address, password, message(address, address, "Thư gửi hộp thư trên máy này"))
    assert wait_delivered(env, address, 1) == 1


def test_a_mailbox_on_a_store_that_does_not_answer_waits_and_nothing_bounces(env, outside):
    _, sender, sender_password = new_mailbox(env)
    _, address, password = new_mailbox(env, govmailStore=outside.name)
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        imap_login(env, address, password)
    subject = f"Cho kho thư {uuid.uuid4().hex[:6]}"
    submit(env, sender, sender_password, message(sender, address, subject))
    deadline = time.monotonic() + 30
    while not (held := [m for m in queued_for(env, address) if m["queue_name"] == "deferred"]) \
            and time.monotonic() < deadline:
        time.sleep(1)
    try:
        assert held, queued_for(env, address)
        reason = held[0]["recipients"][0]["delay_reason"]
        assert "451 4.4.0 Proxy failed" in reason, reason
        assert wait_delivered(env, sender, 1, wait=3) == 0, "no bounce reached the sender"
    finally:
        for m in queued_for(env, address):
            lab.ssh(env.host, ["postsuper", "-d", m["queue_id"]], check=False)
