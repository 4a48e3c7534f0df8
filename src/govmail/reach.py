"""How the operator's machine reaches what only the mail host itself may use (slapd on its loopback, its
sendmail for notices): OpenSSH, over the SSH access the deploy already uses, with port forwarding for slapd.

The SSH target comes from the inventory's hosts.yml (the first host of group `mail`: `ansible_host`,
`ansible_user`, `ansible_ssh_private_key_file`, `ansible_ssh_common_args`), the same file both engines read.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from govmail.errors import GovmailError

CONNECT_TIMEOUT = 10


class Unreachable(GovmailError):
    exit_code = 4


@dataclass(frozen=True)
class SshTarget:
    address: str
    user: str | None = None
    key: str | None = None
    options: tuple[str, ...] = field(default_factory=tuple)

    def command(self, *options: str) -> list[str]:
        """`ssh` to this host with `options`; a remote command may follow."""
        login = f"{self.user}@{self.address}" if self.user else self.address
        key = ["-i", self.key] if self.key else []
        return ["ssh", *key, *self.options, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
                "-o", "ExitOnForwardFailure=yes", *options, login]


def inventory_hosts(inventory: Path, group: str) -> list[tuple[str, SshTarget]]:
    """Every host of `group` in the inventory's hosts.yml, by name, as SSH reaches it."""
    path = inventory / "hosts.yml"
    if not path.is_file():
        return []
    data = (yaml.safe_load(path.read_text()) or {}).get("all") or {}
    common = data.get("vars") or {}
    hosts = ((data.get("children") or {}).get(group) or {}).get("hosts") or {}
    found = []
    for name, host in hosts.items():
        merged = {**common, **(host or {})}
        found.append((name, SshTarget(merged.get("ansible_host", name), merged.get("ansible_user"),
                                      merged.get("ansible_ssh_private_key_file"),
                                      tuple(shlex.split(merged.get("ansible_ssh_common_args", ""))))))
    return found


def inventory_group_vars(inventory: Path, group: str) -> dict:
    """The vars hosts.yml gives `group` itself (`children: {group: {vars: …}}`)."""
    path = inventory / "hosts.yml"
    if not path.is_file():
        return {}
    data = (yaml.safe_load(path.read_text()) or {}).get("all") or {}
    return ((data.get("children") or {}).get(group) or {}).get("vars") or {}


def inventory_host(inventory: Path, group: str) -> SshTarget | None:
    """The first host of `group` in the inventory's hosts.yml, as SSH reaches it."""
    found = inventory_hosts(inventory, group)
    return found[0][1] if found else None


def mail_host(inventory: Path) -> SshTarget | None:
    return inventory_host(inventory, "mail")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(address: int | str) -> bool:
    family, where = (socket.AF_UNIX, address) if isinstance(address, str) else (socket.AF_INET, ("127.0.0.1", address))
    with contextlib.suppress(OSError), socket.socket(family) as sock:
        sock.settimeout(0.5)
        sock.connect(where)
        return True
    return False


class Tunnel:
    """`ssh -N -L` to HOST's REMOTE, while the object lives. REMOTE is a port on the host's 127.0.0.1 (then
    `port` is a free local port) or a Unix socket (then `path` is a local socket that only this user can
    open, in a private folder: whoever connects acts as the SSH login on the host)."""

    def __init__(self, target: SshTarget, remote: int | str):
        self.target, self.remote = target, remote
        self.port, self.path, self._folder = None, None, None
        if isinstance(remote, str):
            self._folder = tempfile.mkdtemp(prefix="govmail-")
            self.path = os.path.join(self._folder, "socket")
            forward = f"{self.path}:{remote}"
        else:
            self.port = free_port()
            forward = f"127.0.0.1:{self.port}:127.0.0.1:{remote}"
        self.process = subprocess.Popen(target.command("-N", "-o", "StreamLocalBindUnlink=yes", "-L", forward),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        atexit.register(self.close)
        self._wait_open()

    @property
    def local(self) -> int | str:
        return self.path or self.port

    def _wait_open(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace").strip()
                self.close()
                raise Unreachable(f"ssh to {self.target.address} failed ({err or 'exit ' + str(self.process.returncode)}): "
                                  "the mail host must be reachable over SSH from this machine, as for a deploy")
            if _answers(self.local):
                return
            time.sleep(0.1)
        self.close()
        raise Unreachable(f"ssh to {self.target.address}: no forwarding to {self.remote} "
                          f"within {CONNECT_TIMEOUT + 5} s")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "Tunnel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
