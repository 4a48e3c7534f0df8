import base64
import re

import pytest

from govmail.build import layout
from govmail.build import render
from govmail.model.profile import known_provinces
from govmail.model.settings import Overrides, build
from govmail.model.units import parse_size


@pytest.fixture
def rendered(profile):
    return lambda province, **ov: render.render_all(build(profile(province), Overrides(**ov)))


def _line(text, prefix):
    found = [l for l in text.splitlines() if l.startswith(prefix)]
    assert found, f"no line starting with {prefix!r}"
    return found


@pytest.mark.parametrize("province", known_provinces())
def test_every_profile_renders_every_file(rendered, province):
    files = rendered(province)
    assert set(files) == {f.path for f in layout.FILES if f.template and f.component not in layout.BACKUP_COMPONENTS}
    for path, text in files.items():
        assert "Managed by govmail" in text.splitlines()[0] or "Managed by govmail" in text.splitlines()[1], path
        assert "None" not in text, f"{path} shows a missing value"
        assert text.endswith("\n")


def _ppm(ldif: str) -> list[str]:
    return [base64.b64decode(v).decode() for v in re.findall(r"^pwdCheckModuleArg:: (\S+)$", ldif, re.M)]


def test_hanam_and_danang_differ_where_their_regulations_differ(rendered):
    hanam, danang = rendered("hanam"), rendered("danang")
    ldif = "/etc/ldap/govmail/ppolicy.ldif"
    assert _line(hanam[ldif], "pwdMinLength:") == ["pwdMinLength: 8", "pwdMinLength: 8"]
    assert _line(danang[ldif], "pwdMinLength:") == ["pwdMinLength: 12", "pwdMinLength: 12"]
    assert "class-special !@#%$*& 1 1 0" in _ppm(hanam[ldif])[0]
    assert "checkRDN 0" in _ppm(hanam[ldif])[0]
    assert "checkRDN 1" in _ppm(danang[ldif])[0]
    assert "checkAttributes cn,sn,givenName,govmailBirthDate,telephoneNumber,mobile" in _ppm(danang[ldif])[0]
    assert "minQuality 4" in _ppm(danang[ldif])[0]
    cf = "/etc/postfix/main.cf"
    assert _line(hanam[cf], "myhostname") == ["myhostname = mail.hanam.gov.vn"]
    assert _line(danang[cf], "myhostname") == ["myhostname = mail.danang.gov.vn"]
    # Both set a 20MB attachment limit: the same derived limit.
    assert _line(hanam[cf], "message_size_limit") == _line(danang[cf], "message_size_limit") == [
        "message_size_limit = 29746448"]
    quota = "/etc/dovecot/conf.d/90-quota.conf"
    assert _line(hanam[quota], "quota_storage_size") == ["quota_storage_size = 2147483648"]
    assert "#   unit      at least 10GB" not in hanam[quota]
    assert "#   unit      10 GiB  (27/2023/QĐ-UBND Điều 8.1.b)" in hanam[quota]
    rc = "/etc/roundcube/config.inc.php"
    assert "$config['password_minimum_length'] = 8;" in hanam[rc]
    assert "$config['password_minimum_length'] = 12;" in danang[rc]
    webmail = "/etc/nginx/sites-available/govmail-webmail"
    assert "    server_name mail.danang.gov.vn thudientu.danang.gov.vn;" in danang[webmail]


def test_cantho_idle_lock_and_unlimited_agency(rendered):
    cantho = rendered("cantho")
    assert "pwdMaxIdle: 7776000" in cantho["/etc/ldap/govmail/ppolicy.ldif"]
    assert "pwdMaxIdle" not in rendered("hanam")["/etc/ldap/govmail/ppolicy.ldif"]
    assert "#   agency    unlimited  (33/2015/QĐ-UBND Điều 4.1.a)" in cantho["/etc/dovecot/conf.d/90-quota.conf"]


def test_blocked_attachments_only_where_the_profile_blocks_them(rendered):
    unit = "/etc/systemd/system/govmail-attachment-milter.service"
    bacgiang, hanam = rendered("bacgiang"), rendered("hanam")
    assert _line(bacgiang[unit], "ExecStart=")[0].endswith(" --block exe --block com --block dll --block net")
    assert "--block" not in hanam[unit]
    reply = [line for line in bacgiang["/usr/local/lib/govmail/attachment-milter"].splitlines() if "setreply" in line]
    assert reply and all(line.isascii() for line in reply)
    assert "Govmail.Blocked.WindowsProgram:1:*:50450000" in bacgiang["/var/lib/clamav/govmail.ndb"]
    assert "WindowsProgram" not in hanam["/var/lib/clamav/govmail.ndb"]


@pytest.fixture
def attachment_milter(rendered, monkeypatch):
    """The rendered milter's functions (Debian's pymilter is on the host only: a bare stand-in for import)."""
    import sys
    import types
    monkeypatch.setitem(sys.modules, "Milter", types.SimpleNamespace(Base=object))
    module = types.ModuleType("attachment_milter")
    exec(rendered("bacgiang")["/usr/local/lib/govmail/attachment-milter"], module.__dict__)
    return module


@pytest.mark.parametrize("name, seen", [("baocao.PDF.exe", "baocao.pdf.exe"), ("baocao%2Eexe", "baocao.exe"),
                                        ("baocao.exe. . ", "baocao.exe"), ("thư mục\\báo cáo.ＥＸＥ", "báo cáo.exe"),
                                        ("network.docx", "network.docx")])
def test_a_name_counts_as_windows_would_read_it(attachment_milter, name, seen):
    assert attachment_milter.windows_name(name) == seen


def test_names_inside_nested_archives_are_found(attachment_milter):
    import io
    import tarfile
    import zipfile
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        info = tarfile.TarInfo("cai-dat.exe")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"MZ"))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("tai-lieu/bao-cao.pdf", b"%PDF-1.4")
        archive.writestr("tai-lieu/goi.tar.gz", inner.getvalue())
    assert list(attachment_milter.members(outer.getvalue())) == ["tai-lieu/bao-cao.pdf", "tai-lieu/goi.tar.gz",
                                                                "cai-dat.exe"]
    assert list(attachment_milter.members(b"%PDF-1.4 not an archive")) == []


def test_inventory_override_reaches_the_files(rendered):
    bigger = rendered("hanam", quotas={"personal": parse_size("5GB")})
    assert "quota_storage_size = 5368709120" in bigger["/etc/dovecot/conf.d/90-quota.conf"]


def test_roundcube_shows_the_rule_in_vietnamese(rendered):
    rc = rendered("hanam")["/etc/roundcube/config.inc.php"]
    assert "'Mật khẩu phải có ít nhất 8 ký tự, gồm chữ hoa, chữ thường, chữ số, ký tự đặc biệt (! @ # % $ * &).'" in rc


def test_encrypted_archives_alert_only_where_the_regulation_restricts_them(rendered):
    clamd = "/etc/clamav/clamd.conf"
    assert _line(rendered("bacgiang")[clamd], "AlertEncryptedArchive") == ["AlertEncryptedArchive yes"]
    assert _line(rendered("hanam")[clamd], "AlertEncryptedArchive") == ["AlertEncryptedArchive no"]


def test_filters_follow_the_message_limit_and_the_inventory(rendered):
    files = rendered("hanam", clamav_mirror="http://10.0.0.5/clamav", spam_reject_score=15)
    limit = int(_line(files["/etc/postfix/main.cf"], "message_size_limit")[0].split(" = ")[1])
    assert _line(files["/etc/clamav/clamd.conf"], "StreamMaxLength") == [f"StreamMaxLength {limit}"]
    assert _line(files["/etc/clamav/clamav-milter.conf"], "MaxFileSize") == [f"MaxFileSize {limit}"]
    assert _line(files["/etc/clamav/freshclam.conf"], "PrivateMirror") == ["PrivateMirror http://10.0.0.5/clamav"]
    assert " -r 15 " in _line(files["/etc/systemd/system/spamass-milter.service"], "ExecStart=")[0]
    assert "PrivateMirror" not in rendered("hanam")["/etc/clamav/freshclam.conf"]


def test_freshclam_fetches_what_the_inventory_names(rendered):
    conf = "/etc/clamav/freshclam.conf"
    default = rendered("hanam")[conf]
    assert _line(default, "DatabaseMirror") == ["DatabaseMirror database.clamav.net"]
    assert "ExcludeDatabase" not in default and "DatabaseCustomURL" not in default
    urls = ["http://10.0.0.5/cert/vn.ndb", "http://10.0.0.5/cert/vn.hdb"]
    own_only = rendered("hanam", clamav_official=False, clamav_signature_urls=urls)[conf]
    assert _line(own_only, "ExcludeDatabase") == [f"ExcludeDatabase {db}" for db in ("main", "daily", "bytecode")]
    assert _line(own_only, "DatabaseCustomURL") == [f"DatabaseCustomURL {url}" for url in urls]


def test_submission_is_virus_scanned_but_not_spam_scored_and_signed(rendered):
    ports = layout.PORTS
    milter = {name: f"inet:127.0.0.1:{ports[name]}" for name in ("from_milter", "attachment_milter", "clamav_milter",
                                                                "spamass_milter", "opendkim", "opendmarc")}
    master = rendered("hanam")["/etc/postfix/master.cf"]
    submission = (f"  -o smtpd_milters={milter['from_milter']},{milter['attachment_milter']},"
                  f"{milter['clamav_milter']},{milter['opendkim']}\n")
    assert master.count(submission) == 2      # submission and submissions: sender, attachments, viruses, DKIM
    assert master.count("  -o milter_macro_daemon_name=ORIGINATING\n") == 3     # and the Sieve forwards
    main = rendered("hanam")["/etc/postfix/main.cf"]
    assert _line(main, "smtpd_milters") == [f"smtpd_milters = {milter['from_milter']}, {milter['attachment_milter']}, "
                                            f"{milter['clamav_milter']}, "
                                            f"{milter['spamass_milter']}, {milter['opendkim']}, {milter['opendmarc']}"]
    assert _line(main, "non_smtpd_milters") == [f"non_smtpd_milters = {milter['opendkim']}"]


def test_rendered_tree_is_readable_by_its_writer_only(tmp_path):
    """Several files hold directory passwords: `govmail render --out` must not leave them world-readable."""
    from govmail.model import settings
    written = render.write_tree(settings.load("hanam"), tmp_path / "out")
    assert written and all(path.stat().st_mode & 0o077 == 0 for path in written)


def test_listed_relays_and_operator_networks_reach_every_file_that_trusts_them(rendered):
    files = rendered("hanam", relays=["192.0.2.40/32"], operator_networks=["198.51.100.0/28"])
    assert "192.0.2.40/32 OK" in files["/etc/postfix/relays.cidr"]
    assert "--trusted 192.0.2.40/32" in files["/etc/systemd/system/govmail-from-milter.service"]
    postscreen = files["/etc/postfix/postscreen_access.cidr"]
    assert "192.0.2.40/32 permit" in postscreen and "198.51.100.0/28 permit" in postscreen
    assert "198.51.100.0/28" in _line(files["/etc/fail2ban/jail.d/govmail.conf"], "ignoreip")[0]
    assert "198.51.100.0/28" in _line(files["/etc/postfix/main.cf"], "smtpd_client_event_limit_exceptions")[0]
    assert "192.0.2.40/32" in _line(files["/etc/postfix/main.cf"], "smtpd_client_event_limit_exceptions")[0]
    plain = rendered("hanam")
    assert "192.0.2.40" not in plain["/etc/systemd/system/govmail-from-milter.service"]


def test_directory_peers_open_ldaps_to_them_alone(profile):
    from govmail.build.components import slapd_listeners
    closed = build(profile("hanam"), Overrides())
    assert slapd_listeners(closed) == 'SLAPD_SERVICES="ldap://127.0.0.1/ ldaps://127.0.0.1/ ldapi:///"'
    assert "chain input" not in render.render_all(closed)["/etc/govmail/nftables.conf"]
    peers = build(profile("hanam"), Overrides(directory_peers=["192.0.2.7/32", "2001:db8::/64"]))
    assert "ldaps:/// " in slapd_listeners(peers) and "ldap:///" not in slapd_listeners(peers)
    table = render.render_all(peers)["/etc/govmail/nftables.conf"]
    assert "tcp dport 636 ip saddr 192.0.2.7/32 accept" in table
    assert "tcp dport 636 ip6 saddr 2001:db8::/64 accept" in table
    assert table.index("saddr 192.0.2.7/32 accept") < table.index("tcp dport 636 counter reject")


def test_one_directory_replicates_nothing_and_has_no_replicator(rendered):
    """A single slapd (no providers in the model): no server ID, no replication, no account that reads every
    password hash."""
    files = rendered("hanam")
    config, services = files["/etc/ldap/govmail/slapd-config.ldif"], files["/etc/ldap/govmail/services.ldif"]
    for word in ("olcServerID", "olcSyncrepl", "olcMultiProvider", "syncprov", "replicator"):
        assert word not in config, word
    assert "replicator" not in services


def test_the_root_dn_has_no_password_and_is_root_over_ldapi(rendered):
    config = rendered("hanam")["/etc/ldap/govmail/slapd-config.ldif"]
    assert "olcRootPW" not in config
    assert 'olcAuthzRegexp: {0}"gidNumber=0\\+uidNumber=0,cn=peercred,cn=external,cn=auth" "cn=admin,' in config
