"""`govmail account import`: every row checked first; one bad row and nothing is added."""

import csv
import os
import subprocess
import sys
import unicodedata

import pytest

from govmail.accounts import bulk
from govmail.accounts import directory

pytestmark = pytest.mark.lifecycle

HEADER = "request,kind,name,agency,birth_date,received\n"
GOOD = [
    "BN-1,agency,Sở Văn hóa Thể thao và Du lịch,,,2026-11-16\n",
    "BN-2,person,Hà Thị Mai Anh,svhttdl,1990-01-02,2026-11-16\n",
    "BN-3,person,Lương Văn Cù,Sở Văn hóa Thể thao và Du lịch,,2026-11-17\n",
    "BN-4,unit,Phòng Quản lý Văn hóa,svhttdl,,2026-11-17\n",
]


def run_import(instance, path, *extra):
    return subprocess.run([sys.executable, "-m", "govmail.cli", "account", "import", str(path), "--province",
                           instance.settings.province, "--server", instance.url, *extra],
                          capture_output=True, text=True, env=dict(os.environ))


def mailboxes(instance) -> int:
    conn = directory.connect(instance.settings, instance.url)
    conn.search(instance.settings.base_dn, "(&(objectClass=govmailMailbox)(!(govmailAccountStatus=system)))",
                attributes=["mail"])
    return len(conn.entries)


def test_bad_rows_are_all_reported_and_nothing_is_added(slapd_for, tmp_path):
    instance = slapd_for("hanam", "import")
    path = tmp_path / "requests.csv"
    path.write_text(HEADER + "".join(GOOD) +
                    "BN-5,person,Nguyễn Văn 3,svhttdl,,\n"            # line 6: digits in a name
                    "BN-6,person,Trần Văn Bình,Sở Không Có,,\n"        # line 7: unknown agency
                    "BN-2,person,Đinh Công Tráng,svhttdl,,\n"          # line 8: request number used above
                    "BN-7,person,Lý Thường Kiệt,svhttdl,31/12/1990,\n",  # line 9: date not ISO
                    encoding="utf-8")
    before = mailboxes(instance)
    proc = run_import(instance, path, "--credentials-out", str(tmp_path / "pw.csv"))
    assert proc.returncode == 2, proc.stderr
    for line, words in [(6, "digits"), (7, "unknown agency"), (8, "duplicate request BN-2"), (9, "not a date")]:
        assert f"requests.csv:{line}: " in proc.stderr and words in proc.stderr, proc.stderr
    assert "requests.csv:2:" not in proc.stderr
    assert mailboxes(instance) == before
    assert not (tmp_path / "pw.csv").exists()


def test_skip_bad_adds_the_good_rows_and_writes_credentials_once(slapd_for, tmp_path):
    instance = slapd_for("hanam", "import-skip")
    path = tmp_path / "requests.csv"
    path.write_text(HEADER + "".join(GOOD) + "BN-8,person,,svhttdl,,\n", encoding="utf-8")
    out = tmp_path / "pw.csv"
    proc = run_import(instance, path, "--credentials-out", str(out), "--skip-bad")
    assert proc.returncode == 0, proc.stderr
    assert "requests.csv:6: name is empty" in proc.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["address"] for r in rows] == ["svhttdl@hanam.gov.vn", "hathimaianh@hanam.gov.vn",
                                           "luongvancu@hanam.gov.vn", "pqlvh.svhttdl@hanam.gov.vn"]
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert mailboxes(instance) == 4
    again = run_import(instance, path, "--credentials-out", str(tmp_path / "pw2.csv"))
    assert again.returncode == 2 and "requests.csv:6: name is empty" in again.stderr
    assert "requests.csv:2: already added by an earlier run: svhttdl@hanam.gov.vn" in again.stderr
    assert mailboxes(instance) == 4


def test_broken_files_are_refused_with_the_problem_named(slapd_for, tmp_path):
    instance = slapd_for("hanam", "import")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(unicodedata.normalize("NFD", HEADER + GOOD[1]).encode("cp1258"))  # a Windows export
    proc = run_import(instance, latin1, "--credentials-out", str(tmp_path / "x.csv"))
    assert proc.returncode == 2 and "not UTF-8" in proc.stderr
    header = tmp_path / "header.csv"
    header.write_text("kind,ten\nperson,X\n", encoding="utf-8")
    proc = run_import(instance, header, "--credentials-out", str(tmp_path / "y.csv"))
    assert proc.returncode == 2 and "unknown column(s) ten" in proc.stderr and "missing column(s) name" in proc.stderr


# Đà Nẵng numbers a second Nguyễn Văn Dũng (3712/QĐ-UBND Điều 3.3.a): two rows alike, two people.
UNNUMBERED = ["agency,Sở Tài chính,,,\n", "person,Nguyễn Văn Dũng,stc,,\n", "person,Nguyễn Văn Dũng,stc,,\n",
              "person,Mai Thị Lan,stc,,\n", "person,Vũ Đình Khôi,stc,,\n", "unit,Phòng Ngân sách,stc,,\n"]


def test_a_run_that_died_half_way_is_finished_by_running_the_file_again(lifecycle_for, slapd_for, tmp_path):
    """Rows without request numbers (two of them alike: two people of the same name): the operator's machine
    dies after the third add. The same file again adds the other three and nothing twice."""
    lc = lifecycle_for("danang", purpose="import-resume")
    instance = slapd_for("danang", "import-resume")
    path = tmp_path / "requests.csv"
    path.write_text("kind,name,agency,birth_date,received\n" + "".join(UNNUMBERED), encoding="utf-8")
    planned, bad, done = bulk.plan(lc, bulk.read_rows(path))
    assert len(planned) == 6 and not bad and not done
    written = []

    def dies_after_three(line, issued):
        written.append(issued.address)
        if len(written) == 3:
            raise KeyboardInterrupt("the operator's machine died")
    writer = directory.connect(instance.settings, instance.url, pipelined=True)
    with pytest.raises(KeyboardInterrupt):
        bulk.write_all(writer, planned, dies_after_three, window=1)
    assert mailboxes(instance) == 3

    again = run_import(instance, path, "--credentials-out", str(tmp_path / "rest.csv"))
    assert again.returncode == 0, again.stderr
    assert [line for line in again.stderr.splitlines() if "already added by an earlier run" in line] == [
        f"{path}:{n}: already added by an earlier run: {address}" for n, address in zip((2, 3, 4), written)]
    rest = [r["address"] for r in csv.DictReader((tmp_path / "rest.csv").open(encoding="utf-8"))]
    assert len(rest) == 3 and not set(rest) & set(written)
    assert mailboxes(instance) == 6
    finished = run_import(instance, path, "--credentials-out", str(tmp_path / "nothing.csv"))
    assert finished.returncode == 0 and "0 row(s) to add" in finished.stderr
    assert mailboxes(instance) == 6
