"""Benchmark: inbound full-chain mail (port 25 from outside the province: postscreen, SPF, ClamAV, SpamAssassin,
DKIM, DMARC) into one node, then into two MX and two stores, in one run on one lab; and each role's CPU time
per message.

One node: every message to the mail host's port 25, for mailboxes stored there. Two MX and two stores: the
senders spread over both MX records (half of the clients to the mail host's port 25, half to store1's), for
mailboxes on both stores; store1's Postfix hands its mail to the mail host's Dovecot over LMTP with STARTTLS,
which delivers a store1 mailbox's mail to store1's Dovecot (a second hop). All lab hosts share this machine's
cores, so the ratio of the two rates measures the cluster's overhead (hops, TLS, replication), not its scaling;
the CPU seconds each role's services used per message (systemd's accounting on each host) say what a core
carries on its own.

Run as root, with mail1 and store1 up and deployed (`govmail lab up mail1 store1`, then the README's deploy
command: the lab makes store1 a store, an MX and a directory provider):
    .venv/bin/python bench/cluster.py [--messages 200] [--clients 4]
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time

from mailflow import OUTSIDER, deployed_lab_host, host_shell, inbox_count, remove_mailboxes, send_all, vietnamese_body
from stores import RECIPIENTS, STORE, mailboxes_on_both_stores, store_host

from govmail.lab.mailflow import compose

# Each role's services, whose CPU time systemd accounts (Postfix's master and every process it starts, the
# SPF policy server included, are in postfix.service).
ROLES = {
    "mx": ["postfix", "spamd", "spamass-milter", "clamav-daemon", "clamav-milter", "opendkim", "opendmarc",
           "govmail-from-milter", "govmail-attachment-milter"],
    "store": ["dovecot"],
    "directory": ["slapd"],
}


def cpu_seconds(host) -> dict[str, float]:
    """Each role's services' CPU time so far on the host, in seconds (a unit not running there counts 0)."""
    units = [u for role in ROLES.values() for u in role]
    out = host_shell(host, f"for u in {' '.join(units)}; do echo $u $(systemctl show -P CPUUsageNSec $u.service); done")
    used = {unit: int(value) if value.isdigit() else 0
            for unit, _, value in (line.partition(" ") for line in out.splitlines())}
    missing = set(units) - set(used)
    if missing:
        sys.exit(f"{host.name}: systemd did not say the CPU time of {', '.join(sorted(missing))}")
    return {role: sum(used[u] for u in names) / 1e9 for role, names in ROLES.items()}


def measured(hosts, arriving: dict, send) -> tuple[float, dict[str, dict[str, float]]]:
    """Messages per second from the first SMTP command until the last is in its INBOX (`arriving`: each host's
    mailboxes and how many messages they get), and the CPU seconds each role used on each host meanwhile."""
    before = {h.name: cpu_seconds(h) for h in hosts}
    awaited = [(h, to, inbox_count(h, to) + count) for h in hosts for to, count in [arriving.get(h.name, ([], 0))]
               if to]
    start = time.perf_counter()
    send()
    for h, to, total in awaited:
        while inbox_count(h, to) < total:
            time.sleep(0.1)
    rate = sum(count for _, count in arriving.values()) / (time.perf_counter() - start)
    after = {h.name: cpu_seconds(h) for h in hosts}
    return rate, {h.name: {role: after[h.name][role] - before[h.name][role] for role in ROLES} for h in hosts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    if args.clients < 2 or args.messages % (2 * RECIPIENTS):
        sys.exit(f"--clients: at least 2 (one per MX); --messages: a multiple of {2 * RECIPIENTS}")
    mail, s, secrets = deployed_lab_host()
    store = store_host()
    if STORE not in s.stores_apart or STORE not in s.mx_hosts:
        sys.exit(f"the lab inventory does not make {STORE} a store and an MX: deploy after `govmail lab up {STORE}`")
    admin, here, there = mailboxes_on_both_stores(s, secrets)
    body = vietnamese_body()

    def batch(to: list[str], label: str, count: int) -> list:
        return [compose(OUTSIDER, to[i % len(to)], f"Công văn {label} số {i}", body) for i in range(count)]

    def one_node(count: int = args.messages):
        return measured([mail, store], {mail.name: (here, count)}, lambda: send_all(
            mail.address, 25, batch(here, "một máy", count), args.clients))

    def cluster(count: int = args.messages):
        """Half the clients to each MX, every client's messages for mailboxes on both stores."""
        mixed = batch([a for pair in zip(here, there) for a in pair], "cụm", count)
        half = count // 2      # each MX gets mail for both stores: a sender picks an MX, not a store
        shares = [(mail, mixed[:half], args.clients // 2), (store, mixed[half:], args.clients - args.clients // 2)]

        def send():
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda share: send_all(share[0].address, 25, share[1], share[2]), shares))
        return measured([mail, store], {mail.name: (here, count // 2), store.name: (there, count // 2)}, send)

    try:
        one_node(2 * RECIPIENTS)            # each MX's filters' first messages off the clock
        cluster(2 * RECIPIENTS)
        single_rate, single_cpu = one_node()
        cluster_rate, cluster_cpu = cluster()
    finally:
        remove_mailboxes(mail, admin, s.base_dn, here)
        remove_mailboxes(store, admin, s.base_dn, there)
    report(args, body, single_rate, single_cpu, cluster_rate, cluster_cpu, mail.name)


def report(args, body: str, single_rate, single_cpu, cluster_rate, cluster_cpu, mail_host: str) -> None:
    n = args.messages
    print(f"message: ~{len(body.encode()) // 1024} KB of text, {n} per run, {args.clients} SMTP clients")
    print(f"inbound, full chain, one node (mail host):        {single_rate:7.1f} msg/s")
    print(f"inbound, full chain, 2 MX + 2 stores:             {cluster_rate:7.1f} msg/s")
    print(f"ratio (cluster / one node):                       {cluster_rate / single_rate:7.2f}")
    print("CPU per message, ms (the role's services, systemd's accounting):")
    print(f"  {'role':10s} {'one node':>9s}   " + "   ".join(f"{h:>9s}" for h in cluster_cpu) + "   cluster total")
    for role in ROLES:
        per_host = [cluster_cpu[h][role] * 1000 / n for h in cluster_cpu]
        print(f"  {role:10s} {single_cpu[mail_host][role] * 1000 / n:9.1f}   "
              + "   ".join(f"{v:9.1f}" for v in per_host) + f"   {sum(per_host):9.1f}")
    for role in ROLES:
        cost = sum(cluster_cpu[h][role] for h in cluster_cpu) / n
        print(f"one core of {role:9s} carries ~{1 / cost:6.0f} msg/s at this cost" if cost > 0 else
              f"one core of {role:9s} used no measurable CPU")


if __name__ == "__main__":
    main()
