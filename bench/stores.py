"""Benchmark: inbound full-chain mail (port 25 from outside the province: SPF, ClamAV, SpamAssassin, DKIM,
DMARC) into mailboxes stored on the mail host, then into mailboxes stored on store1, in one run on one lab.
For store1's mailboxes the mail host's Postfix asks store1's quota-status at RCPT, and its Dovecot proxies each
LMTP delivery to store1 over STARTTLS: the ratio of the two rates is the cost of a store apart. All lab hosts
share this machine's cores, so it measures that overhead, not how a second store scales.

Run as root, with mail1 and store1 up and deployed (`govmail lab up mail1 store1`, then the README's deploy
command):
    .venv/bin/python bench/stores.py [--messages 200] [--clients 4]
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from mailflow import (OUTSIDER, deployed_lab_host, make_mailboxes, rate_into_inbox, remove_mailboxes, send_all,
                      vietnamese_body)

from govmail import lab
from govmail.lab.mailflow import compose

STORE = "store1"
RECIPIENTS = 10      # per store: Dovecot defers an 11th delivery to one user running at the same time


def store_host() -> lab.Host:
    host = lab.load_hosts().get(STORE)
    if host is None:
        sys.exit(f"no lab host {STORE}: run `govmail lab up mail1 {STORE}` and the README's deploy command first")
    return host


def mailboxes_on_both_stores(s, secrets):
    """Fresh mailboxes for the run, RECIPIENTS on the mail host and as many on store1: (admin, here, there)."""
    tag = uuid.uuid4().hex[:6]
    here = [f"bench{tag}m{i}@{s.domain}" for i in range(RECIPIENTS)]
    there = [f"bench{tag}s{i}@{s.domain}" for i in range(RECIPIENTS)]
    admin = make_mailboxes(s, secrets, here)
    make_mailboxes(s, secrets, there, govmailStore=STORE)
    return admin, here, there


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    host, s, secrets = deployed_lab_host()
    store = store_host()
    if STORE not in s.stores_apart:
        sys.exit(f"the lab inventory names no store {STORE}: deploy after `govmail lab up {STORE}`")
    admin, here, there = mailboxes_on_both_stores(s, secrets)
    body = vietnamese_body()

    def inbound(stored_on: lab.Host, to: list[str], label: str, count: int = args.messages) -> float:
        batch = [compose(OUTSIDER, to[i % len(to)], f"Công văn {label} số {i}", body) for i in range(count)]
        return rate_into_inbox(stored_on, to, lambda: send_all(host.address, 25, batch, args.clients), count)

    try:
        inbound(host, here, "khởi động", 20)      # the filters' first messages off the clock
        on_mail_host = inbound(host, here, "mail1")
        on_store = inbound(store, there, STORE)
    finally:
        remove_mailboxes(host, admin, s.base_dn, here)
        remove_mailboxes(store, admin, s.base_dn, there)
    print(f"message: ~{len(body.encode()) // 1024} KB of text, {args.messages} per run, {args.clients} SMTP clients")
    print(f"inbound, full chain, mailboxes on the mail host:  {on_mail_host:7.1f} msg/s")
    print(f"inbound, full chain, mailboxes on {STORE}:        {on_store:7.1f} msg/s")
    print(f"ratio (store apart / mail host):                 {on_store / on_mail_host:7.2f}")


if __name__ == "__main__":
    main()
