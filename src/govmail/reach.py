"""How the operator's machine reaches what only the mail host itself may use (slapd on its loopback, its
sendmail for notices): OpenSSH, over the SSH access the deploy already uses, with port forwarding for slapd.

The SSH target comes from the inventory's hosts.yml (the first host of group `mail`: `ansible_host`,
`ansible_user`, `ansible_ssh_private_key_file`, `ansible_ssh_common_args`), the same file both engines read.
"""

from __future__ import annotations

import atexit
import contextlib
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import GovmailError

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


def mail_host(inventory: Path) -> SshTarget | None:
    """The first host of group `mail` in the inventory's hosts.yml, as SSH reaches it."""
    path = inventory / "hosts.yml"
    if not path.is_file():
        return None
    data = (yaml.safe_load(path.read_text()) or {}).get("all") or {}
    common = data.get("vars") or {}
    hosts = ((data.get("children") or {}).get("mail") or {}).get("hosts") or {}
    for name, host in hosts.items():
        merged = {**common, **(host or {})}
        return SshTarget(merged.get("ansible_host", name), merged.get("ansible_user"),
                         merged.get("ansible_ssh_private_key_file"),
                         tuple(shlex.split(merged.get("ansible_ssh_common_args", ""))))
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


class Tunnel:
    """`ssh -N -L` from a free local port to HOST's 127.0.0.1:PORT, while the object lives."""

    def __init__(self, target: SshTarget, remote_port: int):
        self.target, self.remote_port = target, remote_port
        self.port = free_port()
        self.process = subprocess.Popen(
            target.command("-N", "-L", f"127.0.0.1:{self.port}:127.0.0.1:{remote_port}"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        atexit.register(self.close)
        self._wait_open()

    def _wait_open(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace").strip()
                raise Unreachable(f"ssh to {self.target.address} failed ({err or 'exit ' + str(self.process.returncode)}): "
                                  "the mail host must be reachable over SSH from this machine, as for a deploy")
            if _answers(self.port):
                return
            time.sleep(0.1)
        self.close()
        raise Unreachable(f"ssh to {self.target.address}: no forwarding to port {self.remote_port} "
                          f"within {CONNECT_TIMEOUT + 5} s")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> "Tunnel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
