import datetime as dt
import ssl
import stat
import warnings

import pytest
from cryptography import x509

from govmail.build.tls import CertificateExpiring, server_certificate, warn_if_expiring


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
    from govmail.build import components
    from govmail.model import settings
    from govmail.build.layout import SLAPD_DIR, tls_paths
    s = settings.load("hanam")
    files = components.host_files(s)
    public_key = files[tls_paths(s.mail_host)[1]]
    assert files[f"{SLAPD_DIR}/tls.key"] != public_key
    slapd = x509.load_pem_x509_certificate(files[f"{SLAPD_DIR}/tls.crt"].encode())
    slapd.verify_directly_issued_by(x509.load_pem_x509_certificate(files[f"{SLAPD_DIR}/tls-ca.crt"].encode()))


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> None:
    """A whole TLS handshake in memory: the client verifies the server's certificate for `name`."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    tls_client = client.wrap_bio(c_in, c_out, server_hostname=name)
    tls_server = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for end, (src, dst) in ((tls_client, (c_out, s_in)), (tls_server, (s_out, c_in))):
            try:
                end.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            dst.write(src.read())
        if done == 2:
            return
    raise AssertionError("the handshake did not finish")


def strict_client(ca: bytes) -> ssl.SSLContext:
    """What Python 3.13 (Debian 13) clients verify by default: X.509 strict, key identifiers included."""
    context = ssl.create_default_context(cadata=ca.decode())
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def test_a_strict_verifier_accepts_the_certificate(tmp_path):
    key, cert, ca = server_certificate(tmp_path, "lab", ["mta-sts.hanam.gov.vn"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (tmp_path / "pair.pem").write_bytes(cert + key)
    server.load_cert_chain(tmp_path / "pair.pem")
    handshake(server, strict_client(ca), "mta-sts.hanam.gov.vn")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server, strict_client(ca), "other.hanam.gov.vn")


def test_a_ca_and_certificate_made_without_key_identifiers_are_made_strict_again(tmp_path):
    """What earlier govmail versions made: the CA is signed again with its own key (so what trusted it before
    still verifies what it signs now), the server certificate is issued again."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "govmail internal CA lab")])
    now = dt.datetime.now(dt.timezone.utc)
    old_ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
              .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=99))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .sign(key, hashes.SHA256()))
    (tmp_path / "ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    (tmp_path / "ca.crt").write_bytes(old_ca.public_bytes(serialization.Encoding.PEM))
    server_key, cert, ca = server_certificate(tmp_path, "lab", ["mail.hanam.gov.vn"])
    renewed = x509.load_pem_x509_certificate(ca)
    assert renewed.public_key() == old_ca.public_key() and renewed.not_valid_after_utc == old_ca.not_valid_after_utc
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (tmp_path / "pair.pem").write_bytes(cert + server_key)
    server.load_cert_chain(tmp_path / "pair.pem")
    handshake(server, strict_client(ca), "mail.hanam.gov.vn")
    trusting_the_old_ca = ssl.create_default_context(cadata=old_ca.public_bytes(serialization.Encoding.PEM).decode())
    handshake(server, trusting_the_old_ca, "mail.hanam.gov.vn")
