"""Benchmark: the directory replicated between two providers (multi-provider syncrepl), on this machine with
two real slapd from the deploy's configuration (govmail.lab.localslapd, loopback, no TLS between them).

  - replication delay: an entry added on one provider, until the other returns it (each way);
  - login rate: simple binds per second on one provider, for a single slapd and for a provider of two (each
    login writes pwdLastSuccess at most hourly: olcLastBindPrecision), with the mailboxes' argon2id hashes.

Run as root (the lab's cached root filesystem is built on first use):
    .venv/bin/python bench/replication.py [--writes 200] [--seconds 10] [--clients 4]
Prints figures; asserts nothing about speed. Stops its slapd at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import ldap3
from mailflow import rate_of

from govmail.accounts import directory
from govmail.accounts.lifecycle import AddRequest, Lifecycle
from govmail.build.secretstore import Secrets
from govmail.lab import localslapd
from govmail.model import settings


def visible(instance, dn: str) -> bool:
    conn = directory.connect(instance.settings, instance.url)
    return conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])


def delays(source, target, writes: int) -> list[float]:
    """Seconds from each add on `source` until `target` returns the entry."""
    conn = directory.connect(source.settings, source.url)
    found = []
    for n in range(writes):
        dn = f"ou=bench-{source.port}-{n},{source.settings.base_dn}"
        start = time.monotonic()
        if not conn.add(dn, ["organizationalUnit"], {"ou": f"bench-{source.port}-{n}"}):
            sys.exit(f"add {dn}: {conn.result}")
        while not visible(target, dn):
            if time.monotonic() - start > 30:
                sys.exit(f"{dn} did not reach the other provider within 30 s")
            time.sleep(0.001)
        found.append(time.monotonic() - start)
    return found


def login_rate(instance, accounts: list, seconds: float, clients: int) -> float:
    def bind(n: int, done: int) -> None:
        account = accounts[(n + done) % len(accounts)]
        conn = ldap3.Connection(f"ldap://127.0.0.1:{instance.port}", account.dn, account.password)
        if not conn.bind():
            sys.exit(f"bind {account.dn}: {conn.result}")
        conn.unbind()
    return rate_of(bind, seconds, clients)


def mailboxes(instance, count: int) -> list:
    lc = Lifecycle(instance.settings, directory.connect(instance.settings, instance.url), "bench", directory.now)
    lc.add(AddRequest("agency", "Sở Thử nghiệm"))
    return [lc.add(AddRequest("person", f"Nguyễn Văn Thử {chr(65 + n // 26)}{chr(65 + n % 26)}",
                              agency="Sở Thử nghiệm")) for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = settings.load("hanam")
    secrets = Secrets(Path(tempfile.mkdtemp(prefix="govmail-bench-secrets-")))
    single = localslapd.start(s, secrets)
    try:
        rate = login_rate(single, mailboxes(single, 20), args.seconds, args.clients)
        print(f"one slapd: {rate:.0f} logins/s ({args.clients} clients, argon2id)")
    finally:
        single.stop()
    first, second = localslapd.start_providers(s, secrets)
    try:
        for source, target, way in ((first, second, "1 -> 2"), (second, first, "2 -> 1")):
            found = delays(source, target, args.writes)
            q = statistics.quantiles(found, n=100)
            print(f"replication delay {way}: median {1000 * statistics.median(found):.1f} ms, "
                  f"p95 {1000 * q[94]:.1f} ms, max {1000 * max(found):.1f} ms ({args.writes} adds)")
        accounts = mailboxes(first, 20)
        deadline = time.monotonic() + 30
        while not all(visible(second, a.dn) for a in accounts) and time.monotonic() < deadline:
            time.sleep(0.2)
        rate = login_rate(first, accounts, args.seconds, args.clients)
        print(f"a provider of two: {rate:.0f} logins/s on provider 1 ({args.clients} clients, argon2id, "
              "pwdLastSuccess written at most hourly)")
    finally:
        first.stop()
        second.stop()


if __name__ == "__main__":
    main()
