"""`govmail report` over a directory whose contents the test knows, checked number by number."""

import csv
import datetime as dt
import os
import subprocess
import sys

import ldap3
import pytest

from govmail.accounts.directory import RELAX, gtime, now
from govmail.accounts.lifecycle import AddRequest

pytestmark = pytest.mark.lifecycle


def test_report_counts(lifecycle_for, slapd_for, tmp_path):
    lc = lifecycle_for("hanam", purpose="report")
    instance = slapd_for("hanam", "report")
    today = dt.date.today()
    lc.add(AddRequest("agency", "Sở Kế hoạch và Đầu tư"))
    fresh = lc.add(AddRequest("person", "Mai Hắc Đế", agency="skhdt", received=today - dt.timedelta(days=1)))
    locked = lc.add(AddRequest("person", "Lý Nam Đế", agency="skhdt"))
    revoked = lc.add(AddRequest("person", "Triệu Quang Phục", agency="skhdt"))
    overdue = lc.add(AddRequest("person", "Đinh Bộ Lĩnh", agency="skhdt", received=today - dt.timedelta(days=30)))
    lc.lock(locked.address, "forbidden_use")
    lc.revoke(revoked.address, "nghỉ hưu")
    # Hà Nam Điều 7.2.d: the issued password must be changed within a month; this one was issued 40 days ago.
    assert lc.conn.modify(overdue.dn, {"pwdChangedTime": [(ldap3.MODIFY_REPLACE, [gtime(now() - dt.timedelta(days=40))])]},
                          controls=[RELAX])
    usage = tmp_path / "quota.tsv"
    usage.write_text("Username\tQuota name\tType\tValue\tLimit\t%\n"
                     f"{fresh.address}\tUser quota\tSTORAGE\t1048576\t2097152\t50\n"
                     f"{fresh.address}\tUser quota\tMESSAGE\t12\t-\t0\n")
    out_csv, out_html = tmp_path / "report.csv", tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "govmail.cli", "report", "--province", "hanam", "--server",
                           instance.url, "--csv", str(out_csv), "--html", str(out_html), "--usage", str(usage)],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    rows = {(r["agency"], r["kind"]): r for r in csv.DictReader(out_csv.open(encoding="utf-8"))}
    people = rows["Sở Kế hoạch và Đầu tư", "personal"]
    assert {k: int(people[k]) for k in ["mailboxes", "active", "locked", "revoked", "issued_password_kept",
                                        "issued_password_overdue", "quota_allocated_bytes", "quota_used_bytes",
                                        "provisioned", "provisioned_on_time", "provisioned_late"]} == {
        "mailboxes": 4, "active": 2, "locked": 1, "revoked": 1, "issued_password_kept": 3,
        "issued_password_overdue": 1, "quota_allocated_bytes": 3 * 2 * 2**30, "quota_used_bytes": 2**30,
        "provisioned": 2, "provisioned_on_time": 1, "provisioned_late": 1}
    assert int(rows["(agency mailboxes)", "agency"]["mailboxes"]) == 1
    assert int(rows["total", "all"]["mailboxes"]) == 5
    html = out_html.read_text(encoding="utf-8")
    assert "<svg" in html and "Sở Kế hoạch và Đầu tư" in html and "27/2023/QĐ-UBND Điều 11.8" in html
    assert "<title>locked: 1</title>" in html and "<title>revoked: 1</title>" in html
