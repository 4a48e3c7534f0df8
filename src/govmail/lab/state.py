"""The lab's state on this machine: where it lives, its address plan and names, the hosts it knows,
one change at a time; and the small helpers every part uses."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from govmail.errors import BadInput, GovmailError


STATE = Path(os.environ.get("GOVMAIL_LAB_STATE", "/var/lib/govmail-lab"))
CACHE = Path(os.environ.get("GOVMAIL_LAB_CACHE", "/var/cache/govmail-lab"))
BRIDGE = "govmail0"
NETWORK = ipaddress.ip_network(os.environ.get("GOVMAIL_LAB_NETWORK", "10.213.0.0/24"))
GATEWAY = NETWORK.network_address + 1
FIRST_HOST = 10
# The users' floating address when the lab has front hosts apart (keepalived moves it between them, on each
# host's interface host0); hosts get addresses below it.
FLOATING_HOST = 250
FLOATING_ADDRESS = str(NETWORK.network_address + FLOATING_HOST)
FLOATING_INTERFACE = "host0"
PROXY_PORT = 3142
# The lab's signature mirror: an HTTP server on the gateway holding the project's test signatures, which
# freshclam on lab hosts fetches (inventories/lab/govmail.yml lists its URL). Its one signature exists
# nowhere else: clamd knows it only once freshclam has fetched it.
SIGNATURE_PORT = 8080
LAB_SIGNATURES = "clamav/govmail-lab.ndb"
LAB_SIGNATURE = "Govmail.Lab.MirrorOnly"
LAB_SIGNATURE_TEXT = "govmail lab: a text known only to the signature mirror on the lab gateway"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2", "ca-certificates",
            "apt-utils", "sudo"]
HOST_TOOLS = {"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container", "dnsmasq": "dnsmasq-base",
              "apt-cacher-ng": "apt-cacher-ng", "ssh": "openssh-client", "ip": "iproute2",
              "ssh-keygen": "openssh-client", "mkfs.ext4": "e2fsprogs"}
CGROUP_TREES = [Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified")]
OUTSIDE_DOMAIN = "ngoai.test"   # the "outside world": another organisation's mail domain, on host `outside`
# What other organisations publish, served by the lab DNS beside the province's records: ngoai.test lets
# the lab's addresses send for it and asks receivers to refuse mail that fails DMARC; gia-mao.test ("fake")
# lets nobody send for it.
SPOOFED_DOMAIN = "gia-mao.test"
# cach-ly.test ("quarantine") asks receivers to put mail failing DMARC in Junk, and publishes no SPF.
QUARANTINE_DOMAIN = "cach-ly.test"
# Each host's second disk, where a mail host keeps its mailboxes (layout.VMAIL): an ext4 file system in a
# sparse image, as a provincial server has its mail store on a volume of its own. Its free space is real
# (the root's overlay is the lab machine's): a full mail disk can be made and the node exporter sees it.
MAIL_DISK_SIZE = "2G"
REBOOT_EXIT = 133   # nspawn's exit code when the container asked for a reboot
INVENTORY_DIR = Path(__file__).resolve().parents[3] / "inventories" / "lab"
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


class LabError(GovmailError):
    pass


@dataclass
class Host:
    name: str
    address: str
    uuid: str
    suite: str
    pid: int | None = None          # the supervisor's PID while the host runs


def run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def require_root() -> None:
    if os.geteuid() != 0:
        raise BadInput("the lab needs root (network namespaces, bridges, systemd-nspawn): run it with sudo")


def ensure_tools() -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        print(f"lab: installing Debian packages {' '.join(missing)}", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", *missing], env=env)


@contextmanager
def locked():
    """One lab change at a time: parallel `lab up`s queue here."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def load_hosts() -> dict[str, Host]:
    path = STATE / "hosts.json"
    if not path.exists():
        return {}
    return {name: Host(**h) for name, h in json.loads(path.read_text()).items()}


def save_hosts(hosts: dict[str, Host]) -> None:
    tmp = STATE / "hosts.json.tmp"
    tmp.write_text(json.dumps({n: asdict(h) for n, h in sorted(hosts.items())}, indent=2))
    tmp.replace(STATE / "hosts.json")


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def remove_empty_dirs(path: Path) -> None:
    if not path.exists():
        return
    for sub in sorted(path.glob("**/"), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
