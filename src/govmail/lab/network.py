"""The lab's bridge and the services on its gateway: DNS, the package proxy, the ClamAV signature mirror."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time

from govmail.build import dnsrecords
from govmail.errors import BadInput
from govmail.lab.state import (BRIDGE, CACHE, GATEWAY, Host, LAB_SIGNATURE, LAB_SIGNATURES, LAB_SIGNATURE_TEXT,
                               LabError, MIRROR, NETWORK, OUTSIDE_DOMAIN, PROXY_PORT, QUARANTINE_DOMAIN,
                               SIGNATURE_PORT, SPOOFED_DOMAIN, STATE, alive, run, write_file)


def _addresses_in_use() -> list[tuple[str, ipaddress.IPv4Interface]]:
    out = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout)
    return [(link["ifname"], ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
            for link in out for a in link.get("addr_info", [])]


def ensure_bridge() -> None:
    for ifname, iface in _addresses_in_use():
        if ifname != BRIDGE and iface.network.overlaps(NETWORK):
            raise BadInput(f"the lab range {NETWORK} is taken by {ifname} ({iface}); "
                           "set GOVMAIL_LAB_NETWORK to a free /24")
    if run(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    if not any(ifname == BRIDGE for ifname, _ in _addresses_in_use()):
        run(["ip", "addr", "add", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def pidfile_alive(name: str) -> int | None:
    path = STATE / f"{name}.pid"
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def write_dns(hosts: dict[str, Host], mail_names: dict[str, str]) -> None:
    lines = [f"{h.address} {h.name}" + "".join(f" {n}" for n, target in mail_names.items() if target == h.name)
             for h in hosts.values()]
    write_file(STATE / "dns-hosts", "\n".join(lines) + "\n")
    pid = pidfile_alive("dnsmasq")
    if pid:
        os.kill(pid, signal.SIGHUP)


def dnsmasq_lines(found: list) -> list[str]:
    """dnsmasq options serving `govmail dns` records (the lab's own host names come from the hosts file). dnsmasq
    answers for the lab's own zones only (the province's domain, .test): a name there that it does not
    hold does not exist (NXDOMAIN, as the world's DNS would say), where elsewhere it refuses."""
    zones = sorted({"test", *(r.name for r in found if r.type == "MX")})
    lines = [f"local=/{zone}/" for zone in zones]
    for r in found:
        if r.type in ("A", "AAAA"):
            lines.append(f"host-record={r.name},{r.value}")
        elif r.type == "MX":
            preference, target = r.value.split()
            lines.append(f"mx-host={r.name},{target},{preference}")
        elif r.type == "TXT":
            lines.append(f"txt-record={r.name}," + ",".join(f'"{s}"' for s in dnsrecords.txt_strings(r.value)))
        elif r.type == "SRV":
            priority, weight, port, target = r.value.split()
            lines.append(f"srv-host={r.name},{target},{port},{priority},{weight}")
    return lines


def outside_world_records() -> list:
    return [dnsrecords.Record(OUTSIDE_DOMAIN, "TXT", f"v=spf1 ip4:{NETWORK} -all"),
            dnsrecords.Record(f"_dmarc.{OUTSIDE_DOMAIN}", "TXT", "v=DMARC1; p=reject"),
            dnsrecords.Record(SPOOFED_DOMAIN, "TXT", "v=spf1 -all"),
            dnsrecords.Record(f"_dmarc.{SPOOFED_DOMAIN}", "TXT", "v=DMARC1; p=reject"),
            dnsrecords.Record(f"_dmarc.{QUARANTINE_DOMAIN}", "TXT", "v=DMARC1; p=quarantine")]


def serve_records(found: list) -> None:
    """The lab DNS answers these records (`govmail dns` of a deployment) from now on, as the world's would,
    and the outside world's own."""
    path = STATE / "dns-records.conf"
    text = "\n".join(dnsmasq_lines(found + outside_world_records())) + "\n"
    if path.exists() and path.read_text() == text:
        return
    write_file(path, text)
    pid = pidfile_alive("dnsmasq")      # dnsmasq reads its options only when it starts
    if pid:
        stop_pid(pid)
        ensure_dns()


def ensure_dns() -> None:
    if pidfile_alive("dnsmasq"):
        return
    (STATE / "dns-hosts").touch()
    (STATE / "dns-records.conf").touch()
    run(["dnsmasq", f"--listen-address={GATEWAY}", "--bind-interfaces", f"--interface={BRIDGE}",
         "--except-interface=lo", "--no-resolv", "--no-hosts", "--no-poll", "--domain-needed",
         f"--addn-hosts={STATE / 'dns-hosts'}", f"--conf-file={STATE / 'dns-records.conf'}",
         f"--pid-file={STATE / 'dnsmasq.pid'}", "--local-service"])


def stop_pid(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)


def ensure_proxy() -> None:
    if pidfile_alive("apt-cacher-ng"):
        return
    cache, logs = CACHE / "apt-cacher-ng", STATE / "apt-cacher-ng-log"
    cache.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    # Our own configuration: Debian's default one remaps the archive to mirrors from its list, which a
    # data centre (or this sandbox) may not reach; the lab uses exactly the mirror debootstrap used.
    conf = STATE / "apt-cacher-ng-conf"
    host_path = MIRROR.split("://", 1)[1].rstrip("/")
    write_file(conf / "acng.conf",
           f"CacheDir: {cache}\nLogDir: {logs}\nPort: {PROXY_PORT}\nBindAddress: {GATEWAY}\n"
           f"PidFile: {STATE / 'apt-cacher-ng.pid'}\nSocketPath: {STATE / 'apt-cacher-ng.socket'}\n"
           f"Remap-debrep: {host_path} ; {MIRROR.rstrip('/')}/\nExThreshold: 4\n")
    run(["apt-cacher-ng", "-c", str(conf), "ForeGround=0"])
    for _ in range(50):
        if pidfile_alive("apt-cacher-ng"):
            return
        time.sleep(0.1)
    raise LabError("apt-cacher-ng did not start: see " + str(logs))


def ensure_signature_mirror() -> None:
    if pidfile_alive("signature-mirror"):
        return
    root = STATE / "signature-mirror"
    write_file(root / LAB_SIGNATURES, f"{LAB_SIGNATURE}:0:*:{LAB_SIGNATURE_TEXT.encode().hex()}\n")
    with open(STATE / "signature-mirror.log", "ab") as log:
        server = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "--bind", str(GATEWAY), "--directory",
                                   str(root), str(SIGNATURE_PORT)], stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=log, start_new_session=True)
    write_file(STATE / "signature-mirror.pid", f"{server.pid}\n")
