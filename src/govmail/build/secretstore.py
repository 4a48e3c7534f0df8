"""Per-deployment secrets, generated once on the operator's machine and reused on every run.

Kept outside version control: $GOVMAIL_SECRETS, else ~/.local/share/govmail/secrets/<inventory>/, the
directory 0700 and each file 0600. A password's LDAP hash (argon2id, as slapd hashes every other password)
is stored beside it so rendered files (and therefore deploys) are the same on every run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as random
from pathlib import Path

import bcrypt
from argon2 import PasswordHasher, Type
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from govmail.model.settings import PASSWORD_HASH

BCRYPT_ROUNDS = 10        # the REST server checks the hash on every request (it caches a checked one)
ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def store_dir(inventory: str) -> Path:
    """The store of an inventory directory: its name and a digest of its full path, so that two
    inventories both called `prod` never share a CA. A bare profile name (no inventory) keys by the name.
    A store an older govmail keyed by the name alone goes to the first inventory that asks for it."""
    root = Path(os.environ.get("GOVMAIL_SECRETS") or Path.home() / ".local/share/govmail/secrets")
    path = Path(inventory)
    if not path.is_dir():
        return root / path.name
    resolved = path.resolve()
    keyed = root / f"{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:12]}"
    legacy = root / resolved.name
    if not keyed.exists() and legacy.is_dir():
        legacy.rename(keyed)
    return keyed


def argon2(password: str) -> str:
    """slapd's {ARGON2} value: the PHC string of argon2id with govmail's cost and a random salt."""
    hasher = PasswordHasher(time_cost=PASSWORD_HASH.iterations, memory_cost=PASSWORD_HASH.memory_kib,
                            parallelism=PASSWORD_HASH.parallelism, type=Type.ID)
    return "{ARGON2}" + hasher.hash(password)


def ssha(password: str, salt: bytes) -> str:
    """The salted SHA-1 that govmail stored before argon2 (bench/logins.py compares the two)."""
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


class Secrets:
    def __init__(self, directory: Path):
        self.directory = directory

    def text(self, name: str, make) -> str:
        """The store's file NAME, made by `make()` the first time."""
        path = self.directory / name
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
        return path.read_text()

    def password(self, name: str) -> str:
        return self.text(f"{name}.password", lambda: "".join(random.choice(ALPHABET) for _ in range(32)))

    def password_hash(self, name: str) -> str:
        return self.text(f"{name}.argon2", lambda: argon2(self.password(name)))

    def bcrypt_hash(self, name: str) -> str:
        """The bcrypt hash of NAME's password, as htpasswd files hold it (made once: the file stays the same)."""
        return self.text(f"{name}.bcrypt", lambda: bcrypt.hashpw(self.password(name).encode(),
                                                                bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode())

    def ssh_key(self, name: str) -> tuple[str, str]:
        """An Ed25519 SSH key pair: (private key in OpenSSH's format, public key line)."""
        private = self.text(f"{name}.ssh-key", new_ssh_key)
        key = serialization.load_ssh_private_key(private.encode(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return private, f"{public.decode()} govmail-{name}"


def new_ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()
