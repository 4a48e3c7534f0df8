"""An internal certificate authority per deployment, kept on the operator's side with the secrets.

The CA key never leaves the operator's machine; hosts get their server key and a certificate for
mail.<domain> (and its aliases) signed by it. Certificates are made once and reused, and remade when the
names they must cover change or when they expire within RENEW_DAYS (the next deploy then puts the new one
in place). A certificate the operator supplies is only checked: a deploy warns when it expires soon.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 10
SERVER_DAYS = 825
RENEW_DAYS = 30


class CertificateExpiring(UserWarning):
    pass


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govmail"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_ca(directory: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The internal CA's key and certificate, made on first use. A CA certificate made before govmail wrote
    key identifiers is signed again with the same key, name and dates: what it signed stays valid."""
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if _has(cert, x509.SubjectKeyIdentifier):
            return key, cert
        name, begins, ends = cert.subject, cert.not_valid_before_utc, cert.not_valid_after_utc
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        name = _name(f"govmail internal CA {label}")
        begins, ends = now - dt.timedelta(minutes=5), now + dt.timedelta(days=365 * CA_YEARS)
        _write_private(key_path, _key_pem(key))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(begins).not_valid_after(ends)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _has(cert: x509.Certificate, extension) -> bool:
    try:
        cert.extensions.get_extension_for_class(extension)
    except x509.ExtensionNotFound:
        return False
    return True


def _names_of(cert: x509.Certificate) -> list[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return names.get_values_for_type(x509.DNSName) + [str(a) for a in names.get_values_for_type(x509.IPAddress)]


def _alt_name(name: str) -> x509.GeneralName:
    """A host named by its address gets an IP address entry: verifiers match addresses only against those."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def expires_soon(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_after_utc - now < dt.timedelta(days=RENEW_DAYS)


def warn_if_expiring(chain_pem: bytes, source: str, now: dt.datetime | None = None) -> None:
    """The operator's own certificate is theirs to renew: say so a month ahead, on every deploy."""
    cert = x509.load_pem_x509_certificate(chain_pem)
    now = now or dt.datetime.now(dt.timezone.utc)
    if expires_soon(cert, now):
        warnings.warn(CertificateExpiring(f"{source}: the certificate for {cert.subject.rfc4514_string()} expires "
                                          f"{cert.not_valid_after_utc:%Y-%m-%d}: renew it and deploy again"),
                      stacklevel=2)


def server_certificate(directory: Path, label: str, names: list[str], stem: str | None = None,
                       now: dt.datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """(key PEM, certificate PEM, CA certificate PEM) for a server answering to `names`, kept as
    `stem`.key/.crt (default: the first name) beside the CA."""
    ca_key, ca_cert = ensure_ca(directory, label)
    stem = stem or names[0]
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.crt"
    now = now or dt.datetime.now(dt.timezone.utc)
    if key_path.exists() and cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        # Strict verifiers (OpenSSL's X509_STRICT, Python 3.13's default) want the key identifiers.
        if sorted(_names_of(cert)) == sorted(names) and not expires_soon(cert, now) \
                and _has(cert, x509.AuthorityKeyIdentifier):
            return key_path.read_bytes(), cert_path.read_bytes(), ca_cert.public_bytes(serialization.Encoding.PEM)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return _key_pem(key), cert_path.read_bytes(), ca_cert.public_bytes(serialization.Encoding.PEM)
