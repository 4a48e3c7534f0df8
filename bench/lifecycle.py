"""Benchmark: bulk import of 10,000 accounts and a sweep over them, against a real slapd on loopback.

Run as root: .venv/bin/python bench/lifecycle.py [--accounts 10000] [--province hanam]
Prints figures; asserts nothing about speed (the target: 10,000 imported in under a minute).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GOVMAIL_SECRETS", tempfile.mkdtemp(prefix="govmail-bench-secrets-"))

import ldap3  # noqa: E402

from govmail import directory, localslapd, settings  # noqa: E402
from govmail.accounts.directory import RELAX, gtime, now  # noqa: E402
from govmail.build.secretstore import Secrets, store_dir  # noqa: E402

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Xuân", "Thu"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hòa", "Hùng", "Hương", "Khánh",
         "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Nhung", "Phong", "Phúc", "Phương", "Quân", "Quyên",
         "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tú", "Tuấn", "Vân", "Việt", "Vinh", "Yến", "Ánh",
         "Bảo", "Cường", "Duy", "Đạt", "Hậu", "Huy", "Kiên", "Lộc", "Lợi", "Nhân", "Oanh", "Quý", "Sang", "Tài",
         "Thành", "Thịnh", "Toàn", "Trí", "Uyên", "Vũ", "Xuân", "Yên", "Hoa", "Hằng", "Hiền", "Hồng", "Liên",
         "Loan", "My", "Ngân", "Nguyệt", "Nhi", "Như", "Quỳnh", "Thanh", "Thu", "Thư", "Tiên", "Trinh", "Vy"]
AGENCIES = [f"Sở Thử nghiệm số {chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(40)]


def write_requests(path: Path, count: int) -> None:
    names = itertools.islice(itertools.product(FAMILY, MIDDLE, GIVEN), count)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["request", "kind", "name", "agency", "received", "abbrev"])
        for i, agency in enumerate(AGENCIES):      # their initials clash: the operator's abbreviations
            w.writerow([f"A-{i}", "agency", agency, "", "2026-11-16", f"sotn{i}"])
        for i, words in enumerate(names):
            w.writerow([f"P-{i}", "person", " ".join(words), AGENCIES[i % len(AGENCIES)], "2026-11-16", ""])


def timed(label: str, cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{label} failed: {proc.stderr[-2000:]}")
    return elapsed


def forge_last_logins(instance, base_dn: str, days: int) -> int:
    conn = directory.connect(instance.settings, instance.url)
    entries = conn.extend.standard.paged_search(f"ou=people,{base_dn}", "(objectClass=govmailMailbox)",
                                                attributes=["uid"], paged_size=1000, generator=False)
    stamp = gtime(now().replace(year=now().year - 1))
    for n, e in enumerate(entries):
        if n % days == 0:     # every `days`-th mailbox looks a year idle
            conn.modify(e["dn"], {"pwdLastSuccess": [(ldap3.MODIFY_REPLACE, [stamp])]}, controls=[RELAX])
    return len(entries)


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--accounts", type=int, default=10_000)
    args.add_argument("--province", default="hanam")
    opts = args.parse_args()
    s = settings.load(opts.province)
    instance = localslapd.start(s, Secrets(store_dir(opts.province)))
    work = Path(tempfile.mkdtemp(prefix="govmail-bench-"))
    try:
        requests = work / "requests.csv"
        write_requests(requests, opts.accounts)
        base = [sys.executable, "-m", "govmail.cli"]
        target = ["--province", opts.province, "--server", instance.url]
        check = timed("check", [*base, "account", "import", str(requests), *target, "--check",
                                "--credentials-out", str(work / "unused.csv")])
        rows = opts.accounts + len(AGENCIES)
        imported = timed("import", [*base, "account", "import", str(requests), *target,
                                    "--credentials-out", str(work / "credentials.csv")])
        print(f"import: {rows} rows validated in {check:.1f} s; validated + added in {imported:.1f} s "
              f"({rows / imported:.0f} accounts/s)")
        total = forge_last_logins(instance, s.base_dn, 10)
        dry = timed("sweep --dry-run", [*base, "sweep", *target, "--dry-run", "--outbox", str(work / "outbox")])
        real = timed("sweep", [*base, "sweep", *target, "--outbox", str(work / "outbox")])
        again = timed("sweep again", [*base, "sweep", *target, "--outbox", str(work / "outbox")])
        notices = len(list((work / "outbox").iterdir()))
        print(f"sweep over {total} mailboxes: dry run {dry:.1f} s, run {real:.1f} s ({notices} locked and noticed), "
              f"second run {again:.1f} s")
    finally:
        instance.stop()


if __name__ == "__main__":
    main()
