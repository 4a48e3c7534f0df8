import ssl
import stat

from cryptography import x509

from govmail.tls import server_certificate


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
