"""The cached Debian root each lab host boots from (debootstrap once per suite)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from govmail.lab.state import CACHE, GATEWAY, MIRROR, PACKAGES, PROXY_PORT, run, write_file


def root_dir(suite: str) -> Path:
    return CACHE / f"root-{suite}"


def build_root(suite: str) -> Path:
    """debootstrap once per suite, then make the tree bootable as many distinct hosts."""
    root = root_dir(suite)
    if (root / ".govmail-ready").exists():
        return root
    tmp = CACHE / f"root-{suite}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"lab: building the {suite} root in {root} (debootstrap, 1-3 minutes, cached afterwards)", file=sys.stderr)
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(tmp), MIRROR])
    prepare_root(tmp, suite)
    (tmp / ".govmail-ready").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    tmp.rename(root)
    return root


def prepare_root(root: Path, suite: str) -> None:
    write_file(root / "etc/apt/sources.list", f"deb {MIRROR} {suite} main\n")
    # Each host gets its own machine-id at first boot (an empty file tells systemd to make one).
    write_file(root / "etc/machine-id", "")
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    # SSH host keys are made per host at first boot, never shared through the cached root.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_file(root / "etc/systemd/system/govmail-ssh-hostkeys.service",
           "[Unit]\nDescription=Generate this host's SSH host keys\nBefore=ssh.service\n"
           "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\n"
           "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n[Install]\nWantedBy=multi-user.target\n")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit, target in [("govmail-ssh-hostkeys.service", "/etc/systemd/system/govmail-ssh-hostkeys.service"),
                         ("systemd-networkd.service", "/usr/lib/systemd/system/systemd-networkd.service")]:
        link = wants / unit
        if not link.exists():
            link.symlink_to(target)
    # A static resolv.conf pointing at the lab DNS; the copied host one makes every lookup hang.
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    write_file(resolv, f"nameserver {GATEWAY}\n")
    write_file(root / "etc/apt/apt.conf.d/01govmail-proxy", f'Acquire::http::Proxy "http://{GATEWAY}:{PROXY_PORT}";\n')
