"""The lab: VM-like Debian hosts on this machine, reached over SSH like real servers.

One cached debootstrap root per suite; each host boots it through an overlay with its own systemd as
PID 1 (systemd-nspawn --boot), its own network namespace on the lab bridge, its own machine-id and SSH
host keys. Apt inside goes through an apt-cacher-ng bound to the bridge address; a dnsmasq there
answers the lab's names (hosts and mail.<domain>) and nothing else; an HTTP server there is the lab's
ClamAV signature mirror. Nothing is routed out.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from govmail.build import dnsrecords, layout
from govmail.errors import BadInput, GovmailError

STATE = Path(os.environ.get("GOVMAIL_LAB_STATE", "/var/lib/govmail-lab"))
CACHE = Path(os.environ.get("GOVMAIL_LAB_CACHE", "/var/cache/govmail-lab"))
BRIDGE = "govmail0"
NETWORK = ipaddress.ip_network(os.environ.get("GOVMAIL_LAB_NETWORK", "10.213.0.0/24"))
GATEWAY = NETWORK.network_address + 1
FIRST_HOST = 10
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


# ---- small helpers -------------------------------------------------------------------------------

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


# ---- the cached root -----------------------------------------------------------------------------

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


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def prepare_root(root: Path, suite: str) -> None:
    _write(root / "etc/apt/sources.list", f"deb {MIRROR} {suite} main\n")
    # Each host gets its own machine-id at first boot (an empty file tells systemd to make one).
    _write(root / "etc/machine-id", "")
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    # SSH host keys are made per host at first boot, never shared through the cached root.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _write(root / "etc/systemd/system/govmail-ssh-hostkeys.service",
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
    _write(resolv, f"nameserver {GATEWAY}\n")
    _write(root / "etc/apt/apt.conf.d/01govmail-proxy", f'Acquire::http::Proxy "http://{GATEWAY}:{PROXY_PORT}";\n')


# ---- network, DNS and the package proxy ---------------------------------------------------------

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


def _pidfile_alive(name: str) -> int | None:
    path = STATE / f"{name}.pid"
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def write_dns(hosts: dict[str, Host], mail_names: dict[str, str]) -> None:
    lines = [f"{h.address} {h.name}" + "".join(f" {n}" for n, target in mail_names.items() if target == h.name)
             for h in hosts.values()]
    _write(STATE / "dns-hosts", "\n".join(lines) + "\n")
    pid = _pidfile_alive("dnsmasq")
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
    _write(path, text)
    pid = _pidfile_alive("dnsmasq")      # dnsmasq reads its options only when it starts
    if pid:
        _stop(pid)
        ensure_dns()


def ensure_dns() -> None:
    if _pidfile_alive("dnsmasq"):
        return
    (STATE / "dns-hosts").touch()
    (STATE / "dns-records.conf").touch()
    run(["dnsmasq", f"--listen-address={GATEWAY}", "--bind-interfaces", f"--interface={BRIDGE}",
         "--except-interface=lo", "--no-resolv", "--no-hosts", "--no-poll", "--domain-needed",
         f"--addn-hosts={STATE / 'dns-hosts'}", f"--conf-file={STATE / 'dns-records.conf'}",
         f"--pid-file={STATE / 'dnsmasq.pid'}", "--local-service"])


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)


def ensure_proxy() -> None:
    if _pidfile_alive("apt-cacher-ng"):
        return
    cache, logs = CACHE / "apt-cacher-ng", STATE / "apt-cacher-ng-log"
    cache.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    # Our own configuration: Debian's default one remaps the archive to mirrors from its list, which a
    # data centre (or this sandbox) may not reach; the lab uses exactly the mirror debootstrap used.
    conf = STATE / "apt-cacher-ng-conf"
    host_path = MIRROR.split("://", 1)[1].rstrip("/")
    _write(conf / "acng.conf",
           f"CacheDir: {cache}\nLogDir: {logs}\nPort: {PROXY_PORT}\nBindAddress: {GATEWAY}\n"
           f"PidFile: {STATE / 'apt-cacher-ng.pid'}\nSocketPath: {STATE / 'apt-cacher-ng.socket'}\n"
           f"Remap-debrep: {host_path} ; {MIRROR.rstrip('/')}/\nExThreshold: 4\n")
    run(["apt-cacher-ng", "-c", str(conf), "ForeGround=0"])
    for _ in range(50):
        if _pidfile_alive("apt-cacher-ng"):
            return
        time.sleep(0.1)
    raise LabError("apt-cacher-ng did not start: see " + str(logs))


def ensure_signature_mirror() -> None:
    if _pidfile_alive("signature-mirror"):
        return
    root = STATE / "signature-mirror"
    _write(root / LAB_SIGNATURES, f"{LAB_SIGNATURE}:0:*:{LAB_SIGNATURE_TEXT.encode().hex()}\n")
    with open(STATE / "signature-mirror.log", "ab") as log:
        server = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "--bind", str(GATEWAY), "--directory",
                                   str(root), str(SIGNATURE_PORT)], stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=log, start_new_session=True)
    _write(STATE / "signature-mirror.pid", f"{server.pid}\n")


# ---- hosts ---------------------------------------------------------------------------------------

def host_dir(name: str) -> Path:
    return STATE / "hosts" / name


def ssh_key() -> Path:
    key = STATE / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "govmail-lab", "-f", str(key)])
    return key


def _allocate(name: str, hosts: dict[str, Host], suite: str) -> Host:
    used = {h.address for h in hosts.values()}
    for offset in range(FIRST_HOST, NETWORK.num_addresses - 1):
        address = str(NETWORK.network_address + offset)
        if address not in used:
            return Host(name, address, str(uuid.uuid4()), suite)
    raise LabError(f"no free address left in {NETWORK}")


def seed_host(host: Host) -> None:
    """Host-specific files, written into the overlay's upper layer before the first boot."""
    upper = host_dir(host.name) / "upper"
    _write(upper / "etc/hostname", f"{host.name}\n")
    _write(upper / "etc/hosts", f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    _write(upper / "etc/systemd/network/10-govmail-lab.network",
           f"[Match]\nName=host0\n\n[Network]\nAddress={host.address}/{NETWORK.prefixlen}\n"
           f"Gateway={GATEWAY}\nDNS={GATEWAY}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    _write(upper / "root/.ssh/authorized_keys", Path(f"{ssh_key()}.pub").read_text(), 0o600)
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
        _rmdir_tree(tree / "govmail-lab" / host.name)


# ---- inventories for both engines ------------------------------------------------------------------

def role(name: str) -> str:
    """A lab host's group: `outside` plays the internet, `backup` keeps the backups, the others are mail hosts."""
    return name if name in ("outside", "backup") else "mail"


def write_inventory(hosts: dict[str, Host]) -> Path:
    """inventories/lab/hosts.yml (Ansible's YAML format); pyinfra's inventory.py reads the same file."""
    key = str(ssh_key())
    data = {"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": key,
                 "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"},
        "children": {group: {"hosts": {h.name: {"ansible_host": h.address} for h in hosts.values()
                                       if role(h.name) == group}} for group in ("mail", "backup", "outside")},
    }}
    path = INVENTORY_DIR / "hosts.yml"
    _write(path, "# Written by `govmail lab up`: the lab's hosts, for pyinfra and Ansible alike.\n"
           + yaml.safe_dump(data, sort_keys=False))
    return path


def lab_settings():
    from govmail.model.settings import INVENTORIES_DIR, load
    return load(inventory_dir=INVENTORIES_DIR / "lab")


def mail_names(hosts: dict[str, Host]) -> dict[str, str]:
    """Lab DNS names -> host: the province's domain and mail.<domain> on the first mail host, the outside
    world's domain on `outside` (which has no MX record: mail to it goes to the domain's own address)."""
    names = {}
    if "outside" in hosts:
        names.update({OUTSIDE_DOMAIN: "outside", f"mail.{OUTSIDE_DOMAIN}": "outside"})
    mail_hosts = [h for h in hosts.values() if role(h.name) == "mail"]
    if mail_hosts:
        s = lab_settings()
        names.update({name: mail_hosts[0].name for name in [s.domain, s.mail_host, *s.webmail_aliases]})
    return names


def publish(hosts: dict[str, Host]) -> None:
    """Names and inventories list the running hosts only: a deploy never waits on a stopped one. The lab
    inventory's province gets the records `govmail dns` prints for it (with the secret store in use)."""
    running = {name: h for name, h in hosts.items() if alive(h.pid)}
    write_dns(running, mail_names(running))
    write_inventory(running)
    found = []
    if any(role(h.name) == "mail" for h in running.values()):
        from govmail.build.render import default_secrets
        s = lab_settings()
        found = dnsrecords.records(s, default_secrets(s))
    serve_records(found)


# ---- commands --------------------------------------------------------------------------------------

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
            host = hosts.get(name) or _allocate(name, hosts, suite)
            hosts[name] = host
            if not alive(host.pid):
                start_host(host)
                started.append(host)
        save_hosts(hosts)
        publish(hosts)
    for host in started:
        wait_for_ssh(host)
    return [hosts[n] for n in names]


def down(names: list[str] | None = None) -> None:
    require_root()
    with locked():
        hosts = load_hosts()
        for name in names or list(hosts):
            if name not in hosts:
                raise BadInput(f"no lab host named '{name}' (hosts: {', '.join(hosts) or 'none'})")
            stop_host(hosts[name])
        save_hosts(hosts)
        publish(hosts)
        for tree in CGROUP_TREES:
            _rmdir_tree(tree / "govmail-lab")   # only what is empty: hosts still running keep theirs


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
            pid = _pidfile_alive(name)
            if pid:
                _stop(pid)
        if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
            run(["ip", "link", "delete", BRIDGE])
        shutil.rmtree(STATE / "hosts", ignore_errors=True)
        for tree in CGROUP_TREES:
            _rmdir_tree(tree / "govmail-lab")
        save_hosts({})
        (INVENTORY_DIR / "hosts.yml").unlink(missing_ok=True)
    if purge:
        shutil.rmtree(CACHE, ignore_errors=True)


def _rmdir_tree(path: Path) -> None:
    if not path.exists():
        return
    for sub in sorted(path.glob("**/"), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass


def status() -> list[tuple[Host, bool]]:
    return [(h, alive(h.pid)) for h in load_hosts().values()]

