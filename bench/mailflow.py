"""Benchmark: a ~10 KB Vietnamese message over SMTP into the INBOX on one lab host, four ways in one run.

1. bare: port 25's settings without the milters, on a bench-only listener (Postfix + LMTP + Dovecot);
2. internal: submission on 587, STARTTLS + login, virus scan and DKIM signing (what logged-in government
   users get);
3. inbound: port 25 from outside: SPF, ClamAV, SpamAssassin, DKIM and DMARC (the full chain);
4. spamd alone: spamc on the host, in parallel, on the same message: the ceiling for (3).
Then the memory (PSS) of each running service.

Run as root, with the lab host deployed (`govmail lab up mail1` and the README's deploy command):
    .venv/bin/python bench/mailflow.py [--messages 200] [--clients 4]
Prints figures; asserts nothing about speed. The host's master.cf is restored after the bare run (if the
run is killed, the next deploy restores it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import smtplib
import ssl
import sys
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import ldap3

from govmail import lab
from govmail.lab import mailflow as shared
from govmail.lab.mailflow import compose
from govmail.accounts import directory
from govmail.build.layout import PHP_VERSION
from govmail.build.secretstore import Secrets, store_dir
from govmail.model import settings

INVENTORY = Path(__file__).resolve().parents[1] / "inventories" / "lab"
SENTENCES = ["Thực hiện Kế hoạch số 125/KH-UBND của Ủy ban nhân dân tỉnh về chuyển đổi số năm 2026,",
             "Sở Thông tin và Truyền thông đề nghị các cơ quan, đơn vị rà soát danh sách cán bộ, công chức,",
             "cập nhật hộp thư điện tử công vụ và gửi báo cáo về Sở trước ngày 30 tháng 11 năm 2026.",
             "Đề nghị Thủ trưởng các cơ quan, đơn vị quan tâm, chỉ đạo thực hiện đúng thời hạn quy định."]
OUTSIDER = "cong.dan@ngoai.test"     # port 25 refuses the province's own senders from the network
RECIPIENTS = 10
# Port 25's settings without the milters: the bare path (port 25 itself is never changed).
BARE_PORT = 2526
BARE_LISTENER = f"{BARE_PORT} inet n - y - - smtpd\n  -o smtpd_milters=\n"
SERVICES = ["postfix", "slapd", "dovecot", "clamav-daemon", "clamav-milter", "spamd", "spamass-milter", "opendkim",
            "opendmarc", "nginx", f"php{PHP_VERSION}-fpm"]


def vietnamese_body(size: int = 7_300) -> str:
    lines, total = [], 0
    while total < size:
        line = " ".join(SENTENCES[len(lines) % 4:] + SENTENCES[:len(lines) % 4])
        lines.append(line)
        total += len(line.encode()) + 1
    return "\n".join(lines)


def host_shell(host, command: str) -> str:
    return lab.ssh(host, [command], timeout=600).stdout


def make_mailboxes(s, secrets, addresses: list[str], **attrs) -> ldap3.Connection:
    """Mailboxes for the run, each with a password its owner chose (an issued one could not send); `attrs`: more
    of their attributes (govmailStore)."""
    admin = directory.connect(s)        # slapd listens on loopback: through SSH, as the CLI
    for address in addresses:
        try:
            shared.make_mailbox(admin, s, address.split("@")[0], 0, bench_password(s), cn="Hộp thư đo", sn="Đo",
                                **attrs)
        except lab.LabError as err:
            sys.exit(f"bench mailboxes: {err}")
    return admin


def remove_mailboxes(host, admin, base_dn: str, addresses: list[str]) -> None:
    for address in addresses:
        host_shell(host, f"doveadm expunge -u {address} mailbox INBOX all")
        admin.delete(f"uid={address.split('@')[0]},ou=people,{base_dn}")


def bench_password(s) -> str:
    return shared.chosen_password(s, "Do")


def inbox_count(host, addresses: list[str]) -> int:
    """All the INBOXes' messages in one SSH call (the rate runs poll it)."""
    out = host_shell(host, "; ".join(f"doveadm -f flow mailbox status -u {a} messages INBOX" for a in addresses))
    return sum(int(part.split()[0]) for part in out.split("messages=")[1:])


def send_all(address: str, port: int, messages: list[EmailMessage], clients: int, login=None, tls=None) -> None:
    """Each client one SMTP session sending its share of the messages, as an MTA or a busy office would."""
    def one_client(batch):
        with smtplib.SMTP(address, port, timeout=120) as conn:
            conn.ehlo("bench.lab")
            if login:
                conn.starttls(context=tls)
                conn.ehlo("bench.lab")
                conn.login(*login)
            for msg in batch:
                conn.send_message(msg)
    batches = [messages[i::clients] for i in range(clients)]
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, batches))


def rate_of(attempt, seconds: float, clients: int) -> float:
    """Attempts per second: `clients` threads each calling attempt(client, attempts_so_far) until `seconds`
    have passed (the count lets a client take the next of several accounts in turn)."""
    def one_client(n: int) -> int:
        done, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            attempt(n, done)
            done += 1
        return done
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(one_client, range(clients)))
    return total / (time.monotonic() - start)


@contextlib.contextmanager
def extra_listener(host, entry: str):
    """A bench-only Postfix listener appended to master.cf; the deployed master.cf is put back after."""
    saved = host_shell(host, "cat /etc/postfix/master.cf")
    host_shell(host, f"cat >> /etc/postfix/master.cf <<'EOF'\n{entry}EOF\npostfix reload")
    try:
        yield
    finally:
        host_shell(host, f"cat > /etc/postfix/master.cf <<'EOF'\n{saved}EOF\npostfix reload")


def rate_into_inbox(host, to: list[str], send, count: int) -> float:
    """Messages per second from the first SMTP command until the last one is in the INBOX."""
    before = inbox_count(host, to)
    start = time.perf_counter()
    send()
    while inbox_count(host, to) < before + count:
        time.sleep(0.1)
    return count / (time.perf_counter() - start)


def spamd_rate(host, message: bytes, count: int, parallel: int) -> float:
    host_shell(host, "cat > /tmp/govmail-bench.eml <<'EOF'\n" + message.decode() + "\nEOF")
    out = host_shell(host, f"start=$(date +%s.%N); seq {count} | xargs -P {parallel} -I{{}} sh -c "
                           f"'spamc -c < /tmp/govmail-bench.eml >/dev/null || true'; "
                           f"echo \"$start $(date +%s.%N)\"")
    start, end = map(float, out.split())
    return count / (end - start)


def memory(host, services: list[str] = SERVICES) -> dict[str, int]:
    """PSS in KiB of every process in each service's cgroup."""
    script = ("for u in " + " ".join(services) + "; do cg=$(systemctl show -P ControlGroup $u); t=0; "
              "for p in $(cat /sys/fs/cgroup$cg/cgroup.procs 2>/dev/null); do "
              "v=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup 2>/dev/null); t=$((t+${v:-0})); done; "
              "echo \"$u $t\"; done")
    return {line.split()[0]: int(line.split()[1]) for line in host_shell(host, script).splitlines()}


def deployed_lab_host():
    """The lab host mail1 with its inventory's settings and secrets; exits if the lab is not up."""
    host = lab.load_hosts().get("mail1")
    if host is None:
        sys.exit("no lab host mail1: run `govmail lab up mail1` and the README's deploy command first")
    return host, settings.load(None, INVENTORY), Secrets(store_dir(str(INVENTORY)))


def prepare(description: str):
    """The run's arguments, the lab host, its settings and secrets, and fresh recipient mailboxes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    host, s, secrets = deployed_lab_host()
    # Spread over several mailboxes: Dovecot defers a 11th delivery to one user running at the same time.
    tag = uuid.uuid4().hex[:6]
    to = [f"bench{tag}{i}@{s.domain}" for i in range(RECIPIENTS)]
    return args, host, s, secrets, to, make_mailboxes(s, secrets, to)


def main() -> None:
    args, host, s, secrets, to, admin = prepare(__doc__.splitlines()[0])
    tls = ssl.create_default_context(cadata=(secrets.directory / "ca.crt").read_text())
    tls.check_hostname = False

    body = vietnamese_body()

    def batch(label: str, sender: str = to[0]) -> list[EmailMessage]:
        return [compose(sender, to[i % len(to)], f"Công văn {label} số {i}", body) for i in range(args.messages)]

    size = len(batch("mẫu")[0].as_bytes())
    print(f"message: {size} bytes, {args.messages} per run, {args.clients} SMTP clients in parallel")
    with extra_listener(host, BARE_LISTENER):
        bare = rate_into_inbox(host, to, lambda: send_all(host.address, BARE_PORT, batch("bare", OUTSIDER), args.clients),
                               args.messages)
    internal = rate_into_inbox(host, to, lambda: send_all(host.address, 587, batch("internal"), args.clients,
                                                           login=(to[0], bench_password(s)), tls=tls),
                               args.messages)
    inbound = rate_into_inbox(host, to, lambda: send_all(host.address, 25, batch("inbound", OUTSIDER), args.clients),
                              args.messages)
    spamd = spamd_rate(host, batch("spamc")[0].as_bytes(), args.messages, parallel=2)
    print(f"bare (no filters):                       {bare:7.1f} msg/s")
    print(f"internal, authenticated (ClamAV, DKIM):  {internal:7.1f} msg/s")
    print(f"inbound, full chain:                     {inbound:7.1f} msg/s")
    print(f"spamd alone (spamc x2 in parallel):      {spamd:7.1f} msg/s   <- ceiling of the full chain")
    usage = memory(host)
    for service, kib in usage.items():
        print(f"memory  {service:15s} {kib / 1024:7.1f} MiB PSS")
    print(f"memory  {'total':15s} {sum(usage.values()) / 1024:7.1f} MiB PSS")
    remove_mailboxes(host, admin, s.base_dn, to)


if __name__ == "__main__":
    main()
