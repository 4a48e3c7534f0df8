"""The province's DKIM keys, made on the operator's side and kept in the deployment's secret store like the
other secrets: RSA 2048, one per selector. A selector is dated (`g202611`: govmail, year, month; a letter
follows for a second key in one month) so the DNS shows when a key was made. The store remembers which
selector signs (`dkim-<domain>.active`) and which comes next (`dkim-<domain>.next`); OpenDKIM on the mail
host gets the signing key alone, and `govmail dns` publishes both.

Rotation never signs with a key the world cannot see yet: `rotate` first makes the next key (publish it),
and only a second `rotate` that finds it in the DNS makes it the one that signs (deploy then).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from govmail.build.secretstore import Secrets
from govmail.errors import BadInput, GovmailError

KEY_BITS = 2048
SELECTOR = re.compile(r"^g\d{6}[a-z]?$")


@dataclass(frozen=True)
class Key:
    domain: str
    selector: str
    private_pem: str

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def dns_value(self) -> str:
        """The TXT value of RFC 6376 §3.6.1: the public key, DER SubjectPublicKeyInfo in base64."""
        key = serialization.load_pem_private_key(self.private_pem.encode(), None).public_key()
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def _new_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


class NotPublished(GovmailError):
    """The DNS does not answer with the next key yet."""


def dated_selector(today: dt.date, taken: tuple[str, ...] = ()) -> str:
    base = f"g{today:%Y%m}"
    for suffix in ["", *"bcdefghijklmnopqrstuvwxyz"]:
        if base + suffix not in taken:
            return base + suffix
    raise GovmailError(f"26 DKIM keys made in {today:%Y-%m} already")


def _selector(secrets: Secrets, name: str) -> str | None:
    path = secrets.directory / name
    if not path.exists():
        return None
    selector = path.read_text().strip()
    if not SELECTOR.match(selector):
        raise BadInput(f"{path}: {selector!r} is not a govmail selector")
    return selector


def _key(secrets: Secrets, domain: str, selector: str) -> Key:
    return Key(domain, selector, secrets.text(f"dkim-{domain}-{selector}.key", _new_pem))


def active(secrets: Secrets, domain: str, today: dt.date | None = None) -> Key:
    """The key that signs the domain's mail: made (with today's selector) the first time it is asked for."""
    secrets.text(f"dkim-{domain}.active", lambda: dated_selector(today or dt.date.today()) + "\n")
    return _key(secrets, domain, _selector(secrets, f"dkim-{domain}.active"))


def upcoming(secrets: Secrets, domain: str) -> Key | None:
    """The key made by `rotate` and waiting to be published, if any."""
    selector = _selector(secrets, f"dkim-{domain}.next")
    return _key(secrets, domain, selector) if selector else None


def prepare(secrets: Secrets, domain: str, today: dt.date | None = None) -> Key:
    """Rotation, first step: the next key (made once; asking again gives the same)."""
    current = active(secrets, domain, today)
    waiting = upcoming(secrets, domain)
    if waiting:
        return waiting
    selector = dated_selector(today or dt.date.today(), (current.selector,))
    secrets.text(f"dkim-{domain}.next", lambda: selector + "\n")
    return _key(secrets, domain, selector)


def promote(secrets: Secrets, domain: str, published_value: str | None) -> tuple[Key, Key]:
    """Rotation, second step: the next key signs from now on, once the DNS answers with it
    (`published_value`: the TXT found at its name, or None). Returns (retired, now signing)."""
    waiting = upcoming(secrets, domain)
    if waiting is None:
        raise GovmailError(f"no DKIM key is waiting for {domain}: `govmail dkim rotate` makes one")
    if published_value is None or _tags(published_value).get("p") != _tags(waiting.dns_value)["p"]:
        found = "nothing" if published_value is None else "another key"
        raise NotPublished(f"{waiting.dns_name} answers with {found}: publish the TXT record that `govmail dns` "
                           "prints for it, wait until the DNS answers with it, then rotate again. Nothing changed.")
    retired = active(secrets, domain)
    (secrets.directory / f"dkim-{domain}.active").write_text(waiting.selector + "\n")
    (secrets.directory / f"dkim-{domain}.next").unlink()
    return retired, waiting


def _tags(value: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (part.partition("=") for part in value.split(";")) if k.strip()}
