"""`govmail account` against a real slapd configured as deployed (schema, ppolicy with ppm, ACLs)."""

import datetime as dt
import json
import os
import subprocess
import sys

import ldap3
import pytest

from govmail.accounts.lifecycle import AddRequest
from govmail.errors import BadInput, OperatorChoice

pytestmark = pytest.mark.lifecycle


def govmail(instance, *args, ok=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "govmail.cli", *args, "--province", instance.settings.province,
                           "--server", instance.url, "--operator", "cli-test"],
                          capture_output=True, text=True, env=dict(os.environ))
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def bind(instance, dn, password) -> ldap3.Connection:
    conn = ldap3.Connection(instance.url, dn, password)
    conn.bind()
    return conn


def test_clashes_follow_hanam_rules(lifecycle_for):
    """Hà Nam Điều 5.2: full name; same agency + birth date; another agency + its two initials."""
    lc = lifecycle_for("hanam")
    lc.add(AddRequest("agency", "Sở Tài nguyên và Môi trường", request="HN-A1"))
    lc.add(AddRequest("agency", "Sở Khoa học và Công nghệ", request="HN-A2"))
    first = lc.add(AddRequest("person", "Lê Thị Hồng Nhung", agency="Sở Tài nguyên và Môi trường"))
    same = lc.add(AddRequest("person", "Lê Thị Hồng Nhung", agency="stnmt", birth_date=dt.date(1991, 3, 7)))
    other = lc.add(AddRequest("person", "Lê Thị Hồng Nhung", agency="Sở Khoa học và Công nghệ"))
    assert [first.address, same.address, other.address] == [
        "lethihongnhung@hanam.gov.vn", "lethihongnhung07031991@hanam.gov.vn", "lethihongnhung.kh@hanam.gov.vn"]
    with pytest.raises(OperatorChoice):
        lc.add(AddRequest("person", "Lê Thị Hồng Nhung", agency="stnmt"))


def test_clashes_follow_cantho_rules_and_display_name_carries_the_agency(lifecycle_for):
    lc = lifecycle_for("cantho")
    lc.add(AddRequest("agency", "Sở Nội vụ"))
    made = [lc.add(AddRequest("person", "Phạm Văn Quyết", agency="Sở Nội vụ")).address for _ in range(3)]
    assert made == ["pvquyet@cantho.gov.vn", "pvanquyet@cantho.gov.vn", "phamvanquyet@cantho.gov.vn"]
    with pytest.raises(OperatorChoice):
        lc.add(AddRequest("person", "Phạm Văn Quyết", agency="Sở Nội vụ"))
    assert lc.find(made[0]).display == "Phạm Văn Quyết - Sở Nội vụ"
    chosen = lc.add(AddRequest("person", "Phạm Văn Quyết", agency="Sở Nội vụ", address="quyetpv.snv"))
    assert chosen.address == "quyetpv.snv@cantho.gov.vn"


def test_issued_password_meets_the_policy_differs_and_must_be_changed(lifecycle_for, slapd_for):
    lc = lifecycle_for("danang")
    lc.add(AddRequest("agency", "Sở Xây dựng"))
    issued = [lc.add(AddRequest("person", f"Đỗ Minh {given}", agency="Sở Xây dựng"))
              for given in ("Khôi", "Khoa", "Khang")]
    passwords = [i.password for i in issued]
    assert len(set(passwords)) == 3
    policy = lc.settings.policies["users"]
    for password in passwords:
        assert len(password) >= 12        # Đà Nẵng Điều 11.2.h: at least 12 characters, by hand
        for chars in policy.class_chars.values():
            assert any(c in chars for c in password)
    instance = slapd_for("danang")
    user = bind(instance, issued[0].dn, issued[0].password)
    assert user.bound
    user.search(issued[0].dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["mail"])
    assert (user.result["result"], user.result["message"]) == (        # ppolicy: nothing but changing it
        50, "Operations are restricted to bind/unbind/abandon/StartTLS/modify password"), user.result
    assert user.extend.standard.modify_password(issued[0].dn, None, "Dn@2026-khong-yeu"), user.result


def test_an_add_refused_by_the_directory_leaves_no_entry(lifecycle_for):
    lc = lifecycle_for("hanam")
    lc.add(AddRequest("agency", "Sở Tư pháp"))
    plan = lc.plan_add(AddRequest("person", "Vũ Đình Toàn", agency="Sở Tư pháp"))
    plan.attributes["govmailQuotaBytes"] = "not a number"
    with pytest.raises(Exception, match="refused"):
        lc.write_add(plan)
    assert lc.conn.search(lc.base, "(uid=vudinhtoan)") is False


def test_unknown_agency_and_duplicate_request_are_bad_input(slapd_for):
    instance = slapd_for("hanam")
    missing = govmail(instance, "account", "add", "--kind", "person", "--name", "Hoàng Văn Nam", "--agency",
                      "Sở Không Có", ok=False)
    assert missing.returncode == 2 and "unknown agency 'Sở Không Có'" in missing.stderr
    govmail(instance, "account", "add", "--kind", "agency", "--name", "Sở Y tế", "--request", "YT-1")
    again = govmail(instance, "account", "add", "--kind", "agency", "--name", "Sở Y tế", "--request", "YT-1", ok=False)
    assert again.returncode == 2 and "duplicate request YT-1" in again.stderr


def test_unreachable_directory_is_named(slapd_for):
    instance = slapd_for("hanam")
    proc = subprocess.run([sys.executable, "-m", "govmail.cli", "account", "show", "x@hanam.gov.vn", "--province",
                           "hanam", "--server", "ldapi:///nonexistent/ldapi"], capture_output=True, text=True)
    assert proc.returncode == 4 and "ldapi:///nonexistent/ldapi" in proc.stderr and "unreachable" in proc.stderr
    assert instance.process.poll() is None


def test_cli_lifecycle_records_who_when_why_and_request(slapd_for):
    instance = slapd_for("hanam")
    govmail(instance, "account", "add", "--kind", "agency", "--name", "Sở Giáo dục và Đào tạo")
    added = govmail(instance, "account", "add", "--kind", "person", "--name", "Trịnh Thu Trang", "--agency",
                    "sgddt", "--request", "GD-7")
    address, password = added.stdout.strip().split("\t")
    assert address == "trinhthutrang@hanam.gov.vn" and password not in added.stderr
    govmail(instance, "account", "lock", address, "--reason", "nghỉ phép dài hạn", "--request", "GD-8")
    govmail(instance, "account", "unlock", address, "--request", "GD-9", "--reason", "đi làm lại")
    govmail(instance, "account", "revoke", address, "--reason", "chuyển công tác", "--request", "GD-10")
    shown = json.loads(govmail(instance, "account", "show", address, "--json").stdout)
    assert shown["status"] == "revoked" and shown["dn"].startswith("uid=trinhthutrang,ou=revoked,")
    assert [(a["action"], a.get("request"), a["by"]) for a in shown["audit"]] == [
        ("add", "GD-7", "cli-test"), ("lock", "GD-8", "cli-test"), ("unlock", "GD-9", "cli-test"),
        ("revoke", "GD-10", "cli-test")]
    assert shown["audit"][3]["reason"] == "chuyển công tác"
    assert password not in json.dumps(shown, ensure_ascii=False)
    kept = dt.datetime.fromisoformat(shown["retain_until"]) - dt.datetime.fromisoformat(shown["revoked_at"])
    assert 364 <= kept.days <= 366, "a revoked mailbox's mail is kept a year"
    reuse = govmail(instance, "account", "add", "--kind", "person", "--name", "Trịnh Thu Trang", "--agency",
                    "sgddt", ok=False)
    assert reuse.returncode == 3, "a revoked address stays taken"
    restored = govmail(instance, "account", "restore", address, "--request", "GD-11")
    new_address, new_password = restored.stdout.strip().split("\t")
    assert new_address == address and new_password != password
    user = bind(instance, f"uid=trinhthutrang,ou=people,{instance.settings.base_dn}", new_password)
    assert user.bound


def test_locked_mailbox_cannot_log_in_but_still_receives_where_the_profile_says(lifecycle_for):
    lc = lifecycle_for("hanam")
    lc.add(AddRequest("agency", "Sở Công Thương"))
    made = lc.add(AddRequest("person", "Ngô Bảo Châu", agency="Sở Công Thương"))
    assert lc.lock(made.address, "forbidden_use") is True
    assert lc.lock(made.address, "forbidden_use") is False, "locking twice changes nothing"
    a = lc.find(made.address)
    assert (a.status, a.login_enabled, a.receive_enabled) == ("locked", False, True)


def test_reset_password_unlocks_a_password_lock_only(lifecycle_for):
    lc = lifecycle_for("hanam")
    lc.add(AddRequest("agency", "Sở Nội vụ Hà Nam"))
    made = lc.add(AddRequest("person", "Đặng Văn Lâm", agency="Sở Nội vụ Hà Nam"))
    lc.lock(made.address, "password_expired")
    with pytest.raises(BadInput, match="reset-password"):
        lc.unlock(made.address, None, None)
    issued = lc.reset_password(made.address, None, "quên mật khẩu")
    a = lc.find(made.address)
    assert a.status == "active" and a.must_change and issued.password != made.password


def test_modify_quota_within_the_regulation_bound(slapd_for):
    instance = slapd_for("hanam")
    govmail(instance, "account", "add", "--kind", "agency", "--name", "Sở Tài chính")
    address = govmail(instance, "account", "add", "--kind", "person", "--name", "Bùi Xuân Huấn", "--agency",
                      "stc").stdout.split("\t")[0]
    refused = govmail(instance, "account", "modify", address, "--quota", "1GB", ok=False)
    assert refused.returncode == 2 and "at least 2GB" in refused.stderr
    govmail(instance, "account", "modify", address, "--quota", "4GB", "--add-alias", "huanbx@hanam.gov.vn")
    shown = json.loads(govmail(instance, "account", "show", "huanbx@hanam.gov.vn", "--json").stdout)
    assert shown["quota_bytes"] == 4 * 2**30 and shown["mail"] == address
