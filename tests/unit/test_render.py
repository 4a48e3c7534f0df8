import base64
import re

import pytest

from govmail import render
from govmail.profile import known_provinces
from govmail.settings import Overrides, build
from govmail.units import parse_size


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
    assert set(files) == set(render.MANAGED_FILES.values())
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
    checks = "/etc/postfix/mime_header_checks.pcre"
    bacgiang = rendered("bacgiang")[checks]
    rule = [l for l in bacgiang.splitlines() if l.startswith("/")]
    assert len(rule) == 1 and "(exe|com|dll|net)" in rule[0] and "27/2018/QD-UBND Dieu 2.7, 4.6" in rule[0]
    assert rule[0].isascii()
    assert not [l for l in rendered("hanam")[checks].splitlines() if l.startswith("/")]


def test_blocked_attachment_pattern_matches_what_it_should(rendered):
    line = [l for l in rendered("bacgiang")["/etc/postfix/mime_header_checks.pcre"].splitlines()
            if l.startswith("/")][0]
    pattern = re.compile(line[1:line.rindex("/i")], re.I)
    assert pattern.search('Content-Disposition: attachment; filename="baocao.PDF.exe"')
    assert pattern.search("Content-Type: application/octet-stream; name=setup.com")
    assert pattern.search("Content-Disposition: attachment; filename*=UTF-8''b%C3%A1o.dll")
    assert not pattern.search('Content-Disposition: attachment; filename="network.docx"')
    assert not pattern.search('Content-Disposition: attachment; filename="exe.pdf"')


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


def test_submission_is_virus_scanned_but_not_spam_scored_and_signed(rendered):
    ports = render.PORTS
    milter = {name: f"inet:127.0.0.1:{ports[name]}" for name in ("from_milter", "clamav_milter", "spamass_milter",
                                                                "opendkim", "opendmarc")}
    master = rendered("hanam")["/etc/postfix/master.cf"]
    submission = f"  -o smtpd_milters={milter['from_milter']},{milter['clamav_milter']},{milter['opendkim']}\n"
    assert master.count(submission) == 2      # submission and submissions: who it is from, viruses, DKIM
    assert master.count("  -o milter_macro_daemon_name=ORIGINATING\n") == 3     # and the Sieve forwards
    main = rendered("hanam")["/etc/postfix/main.cf"]
    assert _line(main, "smtpd_milters") == [f"smtpd_milters = {milter['from_milter']}, {milter['clamav_milter']}, "
                                            f"{milter['spamass_milter']}, {milter['opendkim']}, {milter['opendmarc']}"]
    assert _line(main, "non_smtpd_milters") == [f"non_smtpd_milters = {milter['opendkim']}"]


def test_rendered_tree_is_readable_by_its_writer_only(tmp_path):
    """Several files hold directory passwords: `govmail render --out` must not leave them world-readable."""
    from govmail import settings
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
    from govmail.components import slapd_listeners
    closed = build(profile("hanam"), Overrides())
    assert slapd_listeners(closed) == 'SLAPD_SERVICES="ldap://127.0.0.1/ ldaps://127.0.0.1/ ldapi:///"'
    assert "chain input" not in render.render_all(closed)["/etc/govmail/nftables.conf"]
    peers = build(profile("hanam"), Overrides(directory_peers=["192.0.2.7/32", "2001:db8::/64"]))
    assert "ldaps:/// " in slapd_listeners(peers) and "ldap:///" not in slapd_listeners(peers)
    table = render.render_all(peers)["/etc/govmail/nftables.conf"]
    assert "tcp dport 636 ip saddr 192.0.2.7/32 accept" in table
    assert "tcp dport 636 ip6 saddr 2001:db8::/64 accept" in table
    assert table.index("saddr 192.0.2.7/32 accept") < table.index("tcp dport 636 counter reject")


def test_the_root_dn_has_no_password_and_is_root_over_ldapi(rendered):
    config = rendered("hanam")["/etc/ldap/govmail/slapd-config.ldif"]
    assert "olcRootPW" not in config
    assert 'olcAuthzRegexp: {0}"gidNumber=0\\+uidNumber=0,cn=peercred,cn=external,cn=auth" "cn=admin,' in config
