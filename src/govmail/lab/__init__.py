"""The lab: VM-like Debian hosts on this machine, reached over SSH like real servers.

One cached debootstrap root per suite; each host boots it through an overlay with its own systemd as
PID 1 (systemd-nspawn --boot), its own network namespace on the lab bridge, its own machine-id and SSH
host keys. Apt inside goes through an apt-cacher-ng bound to the bridge address; a dnsmasq there
answers the lab's names (hosts and mail.<domain>) and nothing else; an HTTP server there is the lab's
ClamAV signature mirror. Nothing is routed out.

Its parts: state.py (where it lives, its address plan, the hosts it knows), root.py (the cached root),
network.py (bridge, DNS, package proxy, signature mirror), hosts.py (booting, supervising and reaching a
host), inventory.py (what it publishes for the engines and the tests); the commands are here.
"""

from __future__ import annotations

import shutil

from govmail.errors import BadInput
from govmail.lab.hosts import (allocate, host_dir, ssh, ssh_command, ssh_key, start_host, stop_host, supervise,
                               wait_for_ssh)
from govmail.lab.inventory import province_names, publish, publish_province, role
from govmail.lab.network import (dnsmasq_lines, ensure_bridge, ensure_dns, ensure_proxy, ensure_signature_mirror,
                                 pidfile_alive, stop_pid)
from govmail.lab.root import build_root
from govmail.lab.state import (BRIDGE, CACHE, CGROUP_TREES, FLOATING_ADDRESS, GATEWAY, INVENTORY_DIR, LAB_SIGNATURE, LAB_SIGNATURE_TEXT,
                               LAB_SIGNATURES, MAIL_DISK_SIZE, OUTSIDE_DOMAIN, QUARANTINE_DOMAIN, SIGNATURE_PORT,
                               SPOOFED_DOMAIN, STATE, Host, LabError, alive, ensure_tools, load_hosts, locked,
                               remove_empty_dirs, require_root, run, save_hosts)

# What the CLI, the tests and the benchmarks use, besides the commands below.
__all__ = ["CACHE", "CGROUP_TREES", "FLOATING_ADDRESS", "GATEWAY", "LAB_SIGNATURE", "LAB_SIGNATURE_TEXT", "LAB_SIGNATURES", "MAIL_DISK_SIZE",
           "OUTSIDE_DOMAIN", "QUARANTINE_DOMAIN", "SIGNATURE_PORT", "SPOOFED_DOMAIN", "STATE", "Host", "LabError",
           "alive", "build_root", "destroy", "dnsmasq_lines", "down", "ensure_bridge", "ensure_proxy", "ensure_tools",
           "load_hosts", "lose", "province_names", "publish_records", "remove", "require_root", "role", "run", "ssh", "ssh_command", "ssh_key",
           "status", "supervise", "up", "wait_for_ssh"]


def up(names: list[str], suite: str = "trixie") -> list[Host]:
    require_root()
    ensure_tools()
    with locked():
        build_root(suite)
        ensure_bridge()
        ensure_dns()
        ensure_proxy()
        ensure_signature_mirror()
        hosts = load_hosts()
        started = []
        for name in names:
            host = hosts.get(name) or allocate(name, hosts, suite)
            hosts[name] = host
            if not alive(host.pid):
                start_host(host)
                started.append(host)
        save_hosts(hosts)
        publish(hosts)
    for host in started:
        wait_for_ssh(host)
    return [hosts[n] for n in names]


def stop(hosts: dict[str, Host], names: list[str]) -> None:
    """Stop these of the lab's hosts (under the lab's lock); an unknown name is refused before any stops."""
    if unknown := [name for name in names if name not in hosts]:
        raise BadInput(f"no lab host named '{unknown[0]}' (hosts: {', '.join(hosts) or 'none'})")
    for name in names:
        stop_host(hosts[name])
    save_hosts(hosts)


def down(names: list[str] | None = None) -> None:
    require_root()
    with locked():
        hosts = load_hosts()
        stop(hosts, names or list(hosts))
        publish(hosts)
        for tree in CGROUP_TREES:
            remove_empty_dirs(tree / "govmail-lab")   # only what is empty: hosts still running keep theirs


def lose(names: list[str]) -> None:
    """Stop these hosts as a failure would: unlike `down`, the inventory and the lab DNS go on naming them, as an
    operator's do for a host that died (`up` starts them again)."""
    require_root()
    with locked():
        stop(load_hosts(), names)


def remove(names: list[str]) -> None:
    """Stop these hosts and delete their files and their place in the lab (a dead disk)."""
    down(names)
    with locked():
        hosts = load_hosts()
        for name in names:
            shutil.rmtree(host_dir(name), ignore_errors=True)
            hosts.pop(name, None)
        save_hosts(hosts)
        publish(hosts)


def destroy(purge: bool = False) -> None:
    """Everything the lab made: hosts and their files, DNS, proxy, signature mirror, bridge; the cached root unless purge."""
    require_root()
    down()
    with locked():
        for name in ("dnsmasq", "apt-cacher-ng", "signature-mirror"):
            pid = pidfile_alive(name)
            if pid:
                stop_pid(pid)
        if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
            run(["ip", "link", "delete", BRIDGE])
        shutil.rmtree(STATE / "hosts", ignore_errors=True)
        for tree in CGROUP_TREES:
            remove_empty_dirs(tree / "govmail-lab")
        save_hosts({})
        for published in (INVENTORY_DIR / "hosts.yml", STATE / "province-names", STATE / "dns-records.conf"):
            published.unlink(missing_ok=True)
    if purge:
        shutil.rmtree(CACHE, ignore_errors=True)


def publish_records(found: list) -> None:
    """The lab DNS serves these records of a province (`govmail dns`) until the next publication."""
    require_root()
    with locked():
        publish_province(load_hosts(), found)


def status() -> list[tuple[Host, bool]]:
    return [(h, alive(h.pid)) for h in load_hosts().values()]
