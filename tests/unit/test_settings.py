import base64
import datetime as dt
import warnings
from pathlib import Path

import pytest

from govmail.build import render
from govmail.errors import BadInput
from govmail.model import settings
from govmail.model.settings import Overrides, build, message_size_limit
from govmail.model.units import parse_size

GiB = 1024 ** 3


@pytest.fixture
def built(profile):
    return lambda province, **ov: build(profile(province), Overrides(**ov))


def test_message_size_limit_for_20_mib():
    # 20 MiB = 20,971,520 B; base64: ceil(20971520/3)*4 = 27,962,028 B; 367,922 lines of 76 chars
    # (last one short) each + CRLF = 735,844 B -> 28,697,872 B; + 1 MiB headroom = 29,746,448 B.
    assert message_size_limit(20 * 2**20) == 29_746_448
    # FINDINGS: a 20 MiB attachment passed and a 22 MiB one (~31.6 MB encoded) was refused.
    assert settings.encoded_message_size(22 * 2**20) > 29_746_448


def test_message_size_limit_small():
    # 3 bytes -> 4 base64 chars in one line + CRLF = 6 bytes, + 1,048,576.
    assert message_size_limit(3) == 1_048_582


def test_quota_bytes_per_kind(built):
    cantho = built("cantho")
    assert cantho.quotas["agency"].bytes is None                  # unlimited, Điều 4.1.a
    assert cantho.quotas["unit"].bytes == 10 * GiB
    assert cantho.quotas["personal"].bytes == 5 * GiB
    assert built("hanam").quotas["personal"].bytes == 2 * GiB
    assert built("danang").quotas["agency"].bytes == 2 * GiB
    assert built("bacgiang").quotas["personal"].bytes == 2 * GiB  # project default
    assert set(built("bacgiang").quotas) == {"agency", "personal"}


def test_ppolicy_seconds(built):
    bg = built("bacgiang")
    assert bg.policies["users"].max_age_seconds == 6 * 30 * 86400 == 15_552_000
    assert bg.policies["administrators"].max_age_seconds == 7_776_000
    assert bg.policies["administrators"].min_length == 10
    assert bg.policies["users"].min_length == 8
    dn = built("danang")
    assert dn.policies["administrators"].min_length == 12       # defaults to the users' minimum


def test_idle_lock_only_where_the_rule_is_about_logins(built):
    assert built("cantho").policies["users"].max_idle_seconds == 90 * 86400
    assert built("hanam").policies["users"].max_idle_seconds is None   # send/receive: the sweep's job
    assert built("cantho").policies["administrators"].max_idle_seconds is None


def test_personal_data_attributes(built):
    assert "telephoneNumber" in built("danang").policies["users"].check_attributes
    assert built("hanam").policies["users"].check_attributes == []


def test_specials_from_the_regulation(built):
    assert built("hanam").policies["users"].class_chars["special"] == "!@#%$*&"


def test_base_dn_and_hosts(built):
    s = built("hanam")
    assert s.base_dn == "dc=hanam,dc=gov,dc=vn"
    assert s.mail_host == "mail.hanam.gov.vn"
    assert built("danang").webmail_aliases == ["thudientu.danang.gov.vn"]


def test_forwarding_domains(built):
    assert built("hanam").forward_allowed_domains == ["gov.vn"]
    assert built("danang").forward_allowed_domains == ["danang.gov.vn"]
    assert built("cantho").forward_allowed_domains is None


def test_issued_password_length(built):
    assert built("hanam").issued_min_length == 12
    assert built("danang").issued_min_length == 12


def test_deadlines_on_the_vietnamese_calendar(built):
    # Hà Nam 3 working days from Fri 13 Feb 2026 over Tết -> Wed 25 Feb.
    assert built("hanam").provisioning_due(dt.date(2026, 2, 13)) == dt.date(2026, 2, 25)
    # Đà Nẵng 1 working day from Fri 24 Apr 2026; Mon 27 Apr is the Hùng Kings day observed -> Tue 28.
    assert built("danang").provisioning_due(dt.date(2026, 4, 24)) == dt.date(2026, 4, 28)
    assert built("bacgiang").provisioning_due(dt.date(2026, 4, 24)) is None


def test_override_within_the_bound(built):
    assert built("hanam", quotas={"personal": parse_size("5GB")}).quotas["personal"].bytes == 5 * GiB


@pytest.mark.parametrize("province, kind, size", [
    ("hanam", "personal", "1GB"),      # at least 2GB
    ("cantho", "personal", "6GB"),     # at most 5GB
    ("cantho", "unit", "unlimited"),   # at most 10GB
    ("danang", "personal", "3GB"),     # exactly 2GB
    ("bacgiang", "unit", "1GB"),       # no such kind
])
def test_override_breaking_the_regulation_is_refused(built, province, kind, size):
    with pytest.raises(BadInput, match=kind):
        built(province, quotas={kind: parse_size(size)})


def test_attachment_override_only_where_unset(built):
    with pytest.raises(BadInput, match="8.1.b"):
        built("hanam", attachment_max=parse_size("30MB"))
    assert built("cantho", attachment_max=parse_size("30MB")).attachment_max_bytes == 30 * 2**20


def test_inventory_file(tmp_path: Path):
    (tmp_path / "govmail.yml").write_text("province: danang\noverrides: {lockout_failures: 3}\n")
    s = settings.load(inventory_dir=tmp_path)
    assert s.province == "danang" and s.policies["users"].max_failures == 3
    assert settings.load("hanam", tmp_path).province == "hanam"


def test_inventory_typo_names_file_and_key(tmp_path: Path):
    (tmp_path / "govmail.yml").write_text("province: danang\noverrides: {quota: {personal: 2GB}}\n")
    with pytest.raises(BadInput, match=r"govmail.yml: overrides.quota: unknown key"):
        settings.load(inventory_dir=tmp_path)


def test_lab_inventory_loads():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert settings.load(inventory_dir=settings.INVENTORIES_DIR / "lab").domain.endswith(".gov.vn")


def test_operator_certificates_come_in_pairs_and_must_exist(tmp_path: Path):
    cert, key = tmp_path / "mail.crt", tmp_path / "mail.key"
    cert.write_text("chain"), key.write_text("key")
    (tmp_path / "govmail.yml").write_text(f"province: hanam\noverrides: {{tls_certificate_file: {cert}}}\n")
    with pytest.raises(BadInput, match="go together"):
        settings.load(inventory_dir=tmp_path)
    (tmp_path / "govmail.yml").write_text(
        f"province: hanam\noverrides: {{tls_certificate_file: {cert}, tls_key_file: {tmp_path / 'nope.key'}}}\n")
    with pytest.raises(BadInput, match="nope.key"):
        settings.load(inventory_dir=tmp_path)
    (tmp_path / "govmail.yml").write_text(
        f"province: hanam\noverrides: {{tls_certificate_file: {cert}, tls_key_file: {key}}}\n")
    assert settings.load(inventory_dir=tmp_path).tls_files == (cert, key)


def test_relative_files_of_an_inventory_are_read_beside_it_wherever_govmail_runs(tmp_path: Path, monkeypatch):
    inventory = tmp_path / "inventories" / "prod"
    inventory.mkdir(parents=True)
    (inventory / "mail.crt").write_text("chain"), (inventory / "mail.key").write_text("key")
    (inventory / "govmail.yml").write_text(
        "province: hanam\noverrides: {tls_certificate_file: mail.crt, tls_key_file: mail.key}\n")
    monkeypatch.chdir(tmp_path)
    assert settings.load(inventory_dir=Path("inventories/prod")).tls_files == (
        Path("inventories/prod/mail.crt"), Path("inventories/prod/mail.key"))
    (tmp_path / "mail.key").write_text("a key beside the working directory, not the inventory")
    (inventory / "mail.key").unlink()
    with pytest.raises(BadInput, match=r"overrides.tls_key_file: no such file: inventories/prod/mail.key"):
        settings.load(inventory_dir=Path("inventories/prod"))


@pytest.mark.parametrize("overrides, key", [
    ('{lockout_failures: -1}', "lockout_failures"),
    ('{lockout_failures: 0}', "lockout_failures"),
    ('{lockout_duration: "0 seconds"}', "lockout_duration"),
    ('{lockout_duration: "3 months"}', "lockout_duration"),
    ('{lockout_duration: "2 working days"}', "lockout_duration"),
    ('{clamav_mirror: "http://10.0.0.5/clamav\\nPrivateMirror evil"}', "clamav_mirror"),
    ('{clamav_mirror: "ftp://10.0.0.5/clamav"}', "clamav_mirror"),
    ('{clamav_signature_urls: ["http://10.0.0.5/sigs/list.txt"]}', "clamav_signature_urls"),
    ('{clamav_signature_urls: ["http://10.0.0.5/a.ndb\nPrivateMirror evil"]}', "clamav_signature_urls"),
    ('{clamav_official: false}', "no ClamAV signature source"),
    ('{clamav_official: false, clamav_mirror: "http://10.0.0.5/clamav"}', "clamav_official: false"),
    ('{mail_host: "mail.hanam.gov.vn\\nmydestination = *"}', "mail_host"),
    ('{operator_networks: ["10.0.0.0/33"]}', "operator_networks"),
    ('{relays: ["not a network"]}', "relays"),
    ('{recipients_per_hour: 0}', "recipients_per_hour"),
    ("{support_url: \"https://hotro.hanam.gov.vn/'; $config['des_key'] = 'x\"}", "support_url"),
    ('{support_url: "http://hotro.hanam.gov.vn/"}', "support_url"),
    ('{support_url: "javascript:alert(1)"}', "support_url"),
])
def test_overrides_that_would_render_a_broken_or_hostile_file_are_refused(tmp_path: Path, overrides, key):
    """Every override value lands in a configuration file: out-of-range numbers and line breaks are refused,
    naming the key."""
    (tmp_path / "govmail.yml").write_text(f"province: hanam\noverrides: {overrides}\n")
    with pytest.raises(BadInput, match=key):
        settings.load(inventory_dir=tmp_path)


@pytest.mark.parametrize("url", ["https://stttt.hanam.gov.vn/ho-tro?muc=thu#dien-thoai", "mailto:hotro@hanam.gov.vn"])
def test_a_support_page_or_address_reaches_webmail(tmp_path: Path, url):
    (tmp_path / "govmail.yml").write_text(f'province: hanam\noverrides: {{support_url: "{url}"}}\n')
    s = settings.load(inventory_dir=tmp_path)
    config = render.render_all(s)["/etc/roundcube/config.inc.php"]
    assert f"$config['support_url'] = '{url}';" in config
    assert "Hỗ trợ người dùng: Sở Thông tin và Truyền thông (27/2023/QĐ-UBND Điều 6.1, Điều 10.8)." in config


def test_the_logo_is_read_beside_the_inventory_and_must_be_a_small_image(tmp_path: Path):
    (tmp_path / "govmail.yml").write_text("province: hanam\noverrides: {webmail_logo: logo.png}\n")
    with pytest.raises(BadInput, match=f"webmail_logo: no such file: {tmp_path / 'logo.png'}"):
        settings.load(inventory_dir=tmp_path)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    (tmp_path / "logo.png").write_bytes(png)
    logo = settings.load(inventory_dir=tmp_path).logo
    assert (logo.mime, base64.b64decode(logo.base64)) == ("image/png", png)
    (tmp_path / "logo.png").write_bytes(b"<?php system($_GET['c']); ?>")
    with pytest.raises(BadInput, match="is not a PNG, JPEG or SVG image"):
        settings.load(inventory_dir=tmp_path)
    (tmp_path / "logo.png").write_bytes(png * 100)
    with pytest.raises(BadInput, match="at most 100 KB"):
        settings.load(inventory_dir=tmp_path)


def test_a_short_failure_lock_for_drills_is_accepted(tmp_path: Path):
    (tmp_path / "govmail.yml").write_text('province: hanam\noverrides: {lockout_duration: "20 seconds", '
                                          'operator_networks: [10.213.0.1/32]}\n')
    s = settings.load(inventory_dir=tmp_path)
    assert s.policies["users"].lockout_seconds == 20 and s.defences.operator_networks == ["10.213.0.1/32"]


def test_agencies_are_notified_unless_the_profile_says_otherwise(profile):
    from govmail.model.settings import Overrides, build
    assert build(profile("cantho"), Overrides()).notify_agency is True          # 33/2015 Điều 5.4
    assert build(profile("hanam"), Overrides()).notify_agency is True           # silent: the project default
    hanam = profile("hanam")
    refused = type(hanam.inactivity.notify_agency)(value=False, source="a later decision")
    quiet = hanam.model_copy(update={"inactivity": hanam.inactivity.model_copy(update={"notify_agency": refused})})
    assert build(quiet, Overrides()).notify_agency is False


def test_password_reminders_from_the_inventory_or_none(built, tmp_path: Path):
    assert built("hanam").reminders.days == (14, 3) and built("hanam").reminders.source == "project default"
    assert built("hanam", password_reminders=[1, 7, 7]).reminders.days == (7, 1)
    assert built("hanam", password_reminders=[]).reminders.days == ()
    (tmp_path / "govmail.yml").write_text("province: hanam\noverrides:\n  password_reminders: [0]\n")
    with pytest.raises(BadInput, match="password_reminders"):
        settings.load(inventory_dir=tmp_path)
