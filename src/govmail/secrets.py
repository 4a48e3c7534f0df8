"""Per-deployment secrets, generated once on the operator's machine and reused on every run.

Kept outside version control: $GOVMAIL_SECRETS, else ~/.local/share/govmail/secrets/<inventory>/, the
directory 0700 and each file 0600. A password's LDAP hash is stored beside it so rendered files (and
therefore deploys) are the same on every run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as random
from pathlib import Path

ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def store_dir(inventory: str) -> Path:
    root = os.environ.get("GOVMAIL_SECRETS") or Path.home() / ".local/share/govmail/secrets"
    return Path(root) / Path(inventory).name


def ssha(password: str, salt: bytes) -> str:
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


class Secrets:
    def __init__(self, directory: Path):
        self.directory = directory

    def _file(self, name: str, make) -> str:
        path = self.directory / name
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
        return path.read_text()

    def password(self, name: str) -> str:
        return self._file(f"{name}.password", lambda: "".join(random.choice(ALPHABET) for _ in range(32)))

    def password_hash(self, name: str) -> str:
        return self._file(f"{name}.ssha", lambda: ssha(self.password(name), random.token_bytes(8)))
