"""Benchmark: backup and restore of about 1 GB of mailboxes on one lab host, into the `backup` host's restic
repository at its REST server (what the nightly timer runs), then an incremental run after 1 % of the mail changed
(new messages, and messages marked read: Maildir renames them), then a restore of the whole snapshot.

Run as root, with the lab up and deployed (`scripts/main`, which starts mail1, outside and backup):
    .venv/bin/python bench/backup.py [--megabytes 1000] [--message-kb 100]
Prints figures; asserts nothing about speed. It empties mail1's repository first (a full run must be full)
and removes its mailbox, the restored copy and its snapshots' data at the end.
"""

from __future__ import annotations

import argparse
import json
import time

from mailflow import deployed_lab_host, host_shell

from govmail import lab
from govmail.build import layout

BENCH_USER = "bench-backup"
RESTORED = "/var/tmp/govmail-bench-restore"

# Writes COUNT messages of SIZE kB into a Maildir on the host: base64 of random bytes, as attachments are,
# so neither compression nor deduplication makes them smaller than they are.
FILL = """
import base64, os, sys
maildir, first, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) * 1024
for sub in ("cur", "new", "tmp"):
    os.makedirs(f"{maildir}/{sub}", exist_ok=True)
for n in range(first, first + count):
    body = base64.encodebytes(os.urandom(size * 3 // 4)).decode()
    text = (f"From: bench@ngoai.test\\nTo: bench@example\\nSubject: bench {n}\\nMessage-ID: <bench{n}@ngoai.test>\\n"
            f"MIME-Version: 1.0\\nContent-Type: application/octet-stream\\nContent-Transfer-Encoding: base64\\n\\n{body}")
    with open(f"{maildir}/cur/{n}.bench:2,", "w") as fh:
        fh.write(text)
"""


def tool(host, *words: str) -> dict:
    return json.loads(host_shell(host, " ".join([layout.BACKUP_TOOL, *words])).strip().splitlines()[-1])


def timed_run(host) -> tuple[float, dict]:
    started = time.monotonic()
    outcome = tool(host, "run")
    return time.monotonic() - started, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1000)
    parser.add_argument("--message-kb", type=int, default=100)
    args = parser.parse_args()
    host, s, _ = deployed_lab_host()
    backup_host = lab.load_hosts().get("backup")
    if backup_host is None:
        raise SystemExit("no lab host `backup`: run scripts/main first")
    maildir = f"{layout.VMAIL}/{s.domain}/{BENCH_USER}/Maildir"
    count = args.megabytes * 1024 // args.message_kb
    lab.ssh(backup_host, [f"find {layout.BACKUP_ROOT}/{s.mail_host} -mindepth 1 -delete"])
    try:
        started = time.monotonic()
        host_shell(host, f"python3 -c '{FILL}' {maildir} 0 {count} {args.message_kb} && chown -R vmail: "
                         f"{layout.VMAIL}/{s.domain}/{BENCH_USER}")
        print(f"mailbox data: {count} messages of {args.message_kb} kB ({args.megabytes} MB), "
              f"written in {time.monotonic() - started:.0f} s")
        full_seconds, full = timed_run(host)
        print(f"full backup: {full_seconds:.1f} s, {full['total_bytes'] / 2**20:.0f} MiB read, "
              f"{full['added_bytes'] / 2**20:.0f} MiB added to the repository; steps {full['seconds']}")
        changed = count // 100
        host_shell(host, f"python3 -c '{FILL}' {maildir} {count} {changed // 2} {args.message_kb} && "
                         f"cd {maildir}/cur && ls | head -n {changed - changed // 2} | "
                         "while read f; do mv \"$f\" \"${f%:2,}:2,S\"; done && chown -R vmail: .")
        incremental_seconds, incremental = timed_run(host)
        print(f"incremental backup after 1 % changed ({changed // 2} new messages, {changed - changed // 2} "
              f"marked read): {incremental_seconds:.1f} s, {incremental['added_bytes'] / 2**20:.1f} MiB added "
              f"= {100 * incremental_seconds / full_seconds:.0f} % of the full run's time; steps "
              f"{incremental['seconds']}")
        host_shell(host, f"rm -rf {RESTORED}")
        restore = tool(host, "restore-files", "latest", RESTORED)
        print(f"full restore of the snapshot into a directory: {restore['seconds']:.1f} s")
        used = lab.ssh(backup_host, ["du", "-sm", f"{layout.BACKUP_ROOT}/{s.mail_host}"]).stdout.split()[0]
        print(f"repository on the backup host: {used} MiB")
    finally:
        host_shell(host, f"rm -rf {RESTORED} {layout.VMAIL}/{s.domain}/{BENCH_USER}")
        lab.ssh(backup_host, [f"find {layout.BACKUP_ROOT}/{s.mail_host} -mindepth 1 -delete"], check=False)


if __name__ == "__main__":
    main()
