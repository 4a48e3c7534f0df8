"""Benchmark: IMAP logins per second on one lab host, for mailboxes whose password is stored the old way
(salted SHA-1, {SSHA}) and the new way (argon2id, {ARGON2}, what slapd now makes for every new password).

Every IMAP login is a bind as the user (Dovecot's auth bind), so the hash's cost is paid on each one. Each
kind gets the same number of mailboxes and the same clients: login over TLS on 993, LOGOUT, again.

Run as root, with the lab host deployed (`govmail lab up mail1` and the README's deploy command):
    .venv/bin/python bench/logins.py [--seconds 15] [--clients 4]
Prints figures; asserts nothing about speed. Its mailboxes are removed at the end.
"""

from __future__ import annotations

import argparse
import imaplib
import ssl
import sys
import uuid

import ldap3
from mailflow import bench_password, deployed_lab_host, host_shell, make_mailboxes, rate_of

from govmail.accounts.directory import RELAX
from govmail.build.secretstore import ssha


def store_as_ssha(admin: ldap3.Connection, dn: str, password: str) -> None:
    """Put the old salted SHA-1 value in place, as govmail stored it before (the root DN may)."""
    if not admin.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [ssha(password, uuid.uuid4().bytes[:8])])]},
                        controls=[RELAX]):
        sys.exit(f"could not store the old hash for {dn}: {admin.result}")
    admin.modify(dn, {"pwdReset": [(ldap3.MODIFY_DELETE, [])]}, controls=[RELAX])    # absent is fine


def stored_scheme(admin: ldap3.Connection, dn: str) -> str:
    admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["userPassword"])
    value = admin.entries[0].entry_attributes_as_dict["userPassword"][0]
    return (value.decode() if isinstance(value, bytes) else value).split("}")[0] + "}"


def login_rate(address: str, addresses: list[str], password: str, tls, seconds: float, clients: int) -> float:
    def login(n: int, done: int) -> None:
        conn = imaplib.IMAP4_SSL(address, 993, ssl_context=tls)
        conn.login(addresses[(n + done) % len(addresses)], password)
        conn.logout()
    return rate_of(login, seconds, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--mailboxes", type=int, default=8)
    args = parser.parse_args()
    host, s, secrets = deployed_lab_host()
    tls = ssl.create_default_context(cadata=(secrets.directory / "ca.crt").read_text())
    tls.check_hostname = False
    tag = uuid.uuid4().hex[:6]
    kinds = {kind: [f"login{kind}{tag}{i}@{s.domain}" for i in range(args.mailboxes)] for kind in ("ssha", "argon2")}
    admin = make_mailboxes(s, secrets, kinds["ssha"] + kinds["argon2"])
    password = bench_password(s)
    for address in kinds["ssha"]:
        store_as_ssha(admin, f"uid={address.split('@')[0]},ou=people,{s.base_dn}", password)
    try:
        for kind, addresses in kinds.items():
            scheme = stored_scheme(admin, f"uid={addresses[0].split('@')[0]},ou=people,{s.base_dn}")
            rate = login_rate(host.address, addresses, password, tls, args.seconds, args.clients)
            print(f"{kind:<7} stored as {scheme:<9} {rate:6.1f} IMAP logins/s ({args.clients} clients, "
                  f"{args.seconds:.0f} s, {len(addresses)} mailboxes)")
        slapd = host_shell(host, "ps -o rss= -C slapd").split()
        print(f"slapd RSS after the run: {sum(int(v) for v in slapd) // 1024} MiB")
    finally:
        for address in kinds["ssha"] + kinds["argon2"]:
            admin.delete(f"uid={address.split('@')[0]},ou=people,{s.base_dn}")


if __name__ == "__main__":
    main()
