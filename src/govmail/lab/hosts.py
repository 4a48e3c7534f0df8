"""Lab hosts: their files and mail disk, their systemd-nspawn and its supervisor, SSH to them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from govmail.build import layout
from govmail.lab.state import (BRIDGE, CGROUP_TREES, FIRST_HOST, FLOATING_HOST, GATEWAY, Host, LabError, MAIL_DISK_SIZE, NETWORK,
                               REBOOT_EXIT, SSH_OPTIONS, STATE, alive, load_hosts, remove_empty_dirs, run, write_file)
from govmail.lab.root import root_dir


def host_dir(name: str) -> Path:
    return STATE / "hosts" / name


def ssh_key() -> Path:
    key = STATE / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "govmail-lab", "-f", str(key)])
    return key


def allocate(name: str, hosts: dict[str, Host], suite: str) -> Host:
    used = {h.address for h in hosts.values()}
    for offset in range(FIRST_HOST, min(FLOATING_HOST, NETWORK.num_addresses - 1)):
        address = str(NETWORK.network_address + offset)
        if address not in used:
            return Host(name, address, str(uuid.uuid4()), suite)
    raise LabError(f"no free address left in {NETWORK}")


def seed_host(host: Host) -> None:
    """Host-specific files, written into the overlay's upper layer before the first boot."""
    upper = host_dir(host.name) / "upper"
    write_file(upper / "etc/hostname", f"{host.name}\n")
    write_file(upper / "etc/hosts", f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    write_file(upper / "etc/systemd/network/10-govmail-lab.network",
           f"[Match]\nName=host0\n\n[Network]\nAddress={host.address}/{NETWORK.prefixlen}\n"
           f"Gateway={GATEWAY}\nDNS={GATEWAY}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    # The lab's hosts install every package cold several times a run: dpkg skips its fsync per unpacked file
    # (a lab host that crashes mid-install is made again; an operator's host keeps dpkg's default).
    write_file(upper / "etc/dpkg/dpkg.cfg.d/govmail-lab-unsafe-io", "force-unsafe-io\n")
    write_file(upper / "root/.ssh/authorized_keys", Path(f"{ssh_key()}.pub").read_text(), 0o600)
    (upper / "root/.ssh").chmod(0o700)


def mail_disk(name: str) -> Path:
    return host_dir(name) / "mail-disk"


def attach_mail_disk(name: str) -> None:
    """Make the host's mail disk on first use and mount it on this machine, for nspawn to bind in."""
    image, mount = host_dir(name) / "mail-disk.img", mail_disk(name)
    if not image.exists():
        run(["truncate", "-s", MAIL_DISK_SIZE, str(image)])
        run(["mkfs.ext4", "-q", "-F", "-L", "govmail-mail", str(image)])
    mount.mkdir(exist_ok=True)
    if not os.path.ismount(mount):
        run(["mount", "-o", "loop", str(image), str(mount)])


def detach_mail_disk(name: str) -> None:
    if os.path.ismount(mail_disk(name)):
        # lazy: the host's last processes may still be exiting; a -o loop mount frees its loop device with it
        run(["umount", "--lazy", str(mail_disk(name))])


def nspawn_command(host: Host) -> list[str]:
    return ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", f"--network-bridge={BRIDGE}",
            "--console=passive", f"--machine={host.name}", f"--uuid={host.uuid}",
            f"--directory={root_dir(host.suite)}",
            f"--overlay={root_dir(host.suite)}:{host_dir(host.name) / 'upper'}:/",
            f"--bind={mail_disk(host.name)}:{layout.VMAIL}"]


def _own_cgroups(name: str) -> None:
    """Move this process into its own cgroup in each named hierarchy, so two hosts' systemds never
    share nspawn's `payload` cgroup."""
    for tree in CGROUP_TREES:
        if tree.is_dir():
            group = tree / "govmail-lab" / name
            group.mkdir(parents=True, exist_ok=True)
            (group / "cgroup.procs").write_text(str(os.getpid()))


def supervise(name: str) -> int:
    """Run one host until it powers off or is told to stop; a reboot inside starts it again."""
    host = load_hosts()[name]
    _own_cgroups(name)
    env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.send_signal(signal.SIGTERM)   # nspawn turns this into an orderly poweroff inside

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log = open(host_dir(name) / "console.log", "ab")
    while True:
        child = subprocess.Popen(nspawn_command(host), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        rc = child.wait()
        cleanup_host_runtime(name)
        if stopping or rc != REBOOT_EXIT:
            return rc


def cleanup_host_runtime(name: str) -> None:
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{name}", ignore_errors=True)


def start_host(host: Host) -> None:
    host_dir(host.name).mkdir(parents=True, exist_ok=True)
    seed_host(host)
    attach_mail_disk(host.name)
    proc = subprocess.Popen([sys.executable, "-m", "govmail.lab", "supervise", host.name],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd="/")
    host.pid = proc.pid


def wait_for_ssh(host: Host, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(host.pid):
            raise LabError(f"{host.name} stopped while booting: see {host_dir(host.name) / 'console.log'}")
        if ssh(host, ["true"], check=False).returncode == 0:
            return
        time.sleep(1)
    raise LabError(f"{host.name} ({host.address}) did not answer SSH within {timeout:.0f} s: "
                   f"see {host_dir(host.name) / 'console.log'}")


def ssh_command(host: Host, command: list[str] | None = None) -> list[str]:
    return ["ssh", "-i", str(ssh_key()), *SSH_OPTIONS, f"root@{host.address}", *(command or [])]


def ssh(host: Host, command: list[str], check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(ssh_command(host, command), check=check, timeout=timeout)


def stop_host(host: Host, timeout: float = 30) -> None:
    if alive(host.pid):
        os.kill(host.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(host.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(host.pid):
            os.killpg(host.pid, signal.SIGKILL)
    host.pid = None
    detach_mail_disk(host.name)
    cleanup_host_runtime(host.name)
    for tree in CGROUP_TREES:
        remove_empty_dirs(tree / "govmail-lab" / host.name)
