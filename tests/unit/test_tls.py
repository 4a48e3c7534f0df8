import datetime as dt
import ssl
import stat
import warnings

import pytest
from cryptography import x509

from govmail.tls import CertificateExpiring, server_certificate, warn_if_expiring


def test_server_certificate_is_signed_by_the_ca_and_reused(tmp_path):
    key, cert, ca = server_certificate(tmp_path, "lab", ["mail.hanam.gov.vn", "hanam.gov.vn"])
    parsed = x509.load_pem_x509_certificate(cert)
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.hanam.gov.vn", "hanam.gov.vn"]
    parsed.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600
    assert server_certificate(tmp_path, "lab", ["mail.hanam.gov.vn", "hanam.gov.vn"])[1] == cert
    context = ssl.create_default_context(cadata=ca.decode())
    (tmp_path / "pair.pem").write_bytes(cert + key)
    context.load_cert_chain(tmp_path / "pair.pem")   # key and certificate belong together


def test_new_names_make_a_new_certificate_from_the_same_ca(tmp_path):
    _, first, ca = server_certificate(tmp_path, "lab", ["mail.danang.gov.vn"])
    _, second, ca2 = server_certificate(tmp_path, "lab", ["mail.danang.gov.vn", "thudientu.danang.gov.vn"])
    assert first != second and ca == ca2


def test_a_certificate_near_its_end_is_renewed_by_the_next_deploy(tmp_path):
    _, first, _ = server_certificate(tmp_path, "lab", ["mail.hanam.gov.vn"])
    end = x509.load_pem_x509_certificate(first).not_valid_after_utc
    assert server_certificate(tmp_path, "lab", ["mail.hanam.gov.vn"], now=end - dt.timedelta(days=40))[1] == first
    renewed = server_certificate(tmp_path, "lab", ["mail.hanam.gov.vn"], now=end - dt.timedelta(days=20))[1]
    assert renewed != first
    assert x509.load_pem_x509_certificate(renewed).not_valid_after_utc > end


def test_an_operator_certificate_expiring_within_a_month_is_warned_about(tmp_path):
    _, cert, _ = server_certificate(tmp_path, "theirs", ["mail.hanam.gov.vn"])
    end = x509.load_pem_x509_certificate(cert).not_valid_after_utc
    with pytest.warns(CertificateExpiring, match="mail.hanam.gov.vn"):
        warn_if_expiring(cert, "mail.crt", now=end - dt.timedelta(days=29))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_expiring(cert, "mail.crt", now=end - dt.timedelta(days=31))


def test_slapd_never_holds_the_key_of_the_public_services():
    from govmail import components, settings
    from govmail.render import SLAPD_DIR, tls_paths
    s = settings.load("hanam")
    files = components.host_files(s)
    public_key = files[tls_paths(s.mail_host)[1]]
    assert files[f"{SLAPD_DIR}/tls.key"] != public_key
    slapd = x509.load_pem_x509_certificate(files[f"{SLAPD_DIR}/tls.crt"].encode())
    slapd.verify_directly_issued_by(x509.load_pem_x509_certificate(files[f"{SLAPD_DIR}/tls-ca.crt"].encode()))
