"""Smoke tests of the lab: real systemd-nspawn hosts booting Debian 13, reached over SSH."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from govmail import lab
from govmail.build import dnsrecords, layout
from govmail.build.render import default_secrets
from govmail.model import settings

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/fs/cgroup").is_dir(), reason="unavailable here: the lab needs root"),
]
HOSTS = ["smoke1", "outside"]
REPO = Path(__file__).resolve().parents[2]


def govmail(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "govmail.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.fixture(scope="module")
def hosts():
    fresh = not lab.load_hosts()
    up = govmail("lab", "up", *HOSTS)
    assert up.returncode == 0, up.stderr
    yield {name: lab.load_hosts()[name] for name in HOSTS}
    govmail("lab", "down", *HOSTS)
    if fresh:
        govmail("lab", "destroy")


def on(host, command: str, check=True):
    return lab.ssh(host, [command], check=check)


def test_host_boots_debian_13_with_systemd_running(hosts):
    host = hosts["smoke1"]
    assert on(host, "systemctl is-system-running --wait").stdout.strip() == "running"
    assert 'VERSION_CODENAME=trixie' in on(host, "cat /etc/os-release").stdout
    assert on(host, "cat /proc/1/comm").stdout.strip() == "systemd"


def test_hosts_have_their_own_identity(hosts):
    ids = {on(h, "cat /etc/machine-id").stdout for h in hosts.values()}
    keys = {on(h, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout for h in hosts.values()}
    assert len(ids) == 2 and len(keys) == 2


def test_apt_installs_through_the_lab_proxy(hosts):
    host = hosts["smoke1"]
    on(host, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hello >/dev/null")
    assert on(host, "hello").stdout.strip() == "Hello, world!"
    log = (lab.STATE / "apt-cacher-ng-log" / "apt-cacher.log").read_text()
    assert f"|{host.address}|" in log, "the download went through apt-cacher-ng"


def test_hosts_fetch_the_test_signatures_from_the_gateway_mirror(hosts):
    url = f"http://{lab.GATEWAY}:{lab.SIGNATURE_PORT}/{lab.LAB_SIGNATURES}"
    fetch = f"import urllib.request; print(urllib.request.urlopen('{url}').read().decode())"
    fetched = on(hosts["smoke1"], f'python3 -c "{fetch}"')
    name, target, offset, hexed = fetched.stdout.strip().split(":")
    assert (name, target, offset) == (lab.LAB_SIGNATURE, "0", "*")
    assert bytes.fromhex(hexed).decode() == lab.LAB_SIGNATURE_TEXT
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{lab.SIGNATURE_PORT}"], capture_output=True, text=True).stdout
    assert listening.split()[3] == f"{lab.GATEWAY}:{lab.SIGNATURE_PORT}", "the mirror answers on the lab bridge only"


def test_hosts_reach_each_other_by_name(hosts):
    one, two = hosts["smoke1"], hosts["outside"]
    assert on(one, "getent hosts outside").stdout.split()[0] == two.address
    assert on(one, f"getent hosts {lab.OUTSIDE_DOMAIN}").stdout.split()[0] == two.address
    domain = settings.load(inventory_dir=REPO / "inventories/lab").domain
    first_mail_host = next(h for h in lab.load_hosts().values() if lab.role(h.name) == "mail")
    assert on(two, f"getent hosts mail.{domain}").stdout.split()[0] == first_mail_host.address
    banner = on(two, "python3 -c \"import socket; print(socket.create_connection(('smoke1', 22), 5).recv(8))\"")
    assert "SSH-2.0" in banner.stdout


def test_starting_a_host_keeps_the_records_last_published(hosts):
    """After a deploy of another province publishes its records, `lab up` does not put the lab inventory's
    province back: the lab serves what it was last given."""
    inventory = settings.load(inventory_dir=REPO / "inventories/lab")
    other = settings.load(next(p for p in ("danang", "bacgiang") if p != inventory.province), REPO / "inventories/lab")
    first_mail_host = next(h for h in lab.load_hosts().values() if lab.role(h.name) == "mail")
    try:
        lab.publish_records(dnsrecords.records(other, default_secrets(other)))
        assert govmail("lab", "up", "smoke1").returncode == 0
        assert lab.province_names() == sorted([other.domain, other.mail_host])
        assert on(hosts["outside"], f"getent hosts {other.domain}").stdout.split()[0] == first_mail_host.address
        assert on(hosts["outside"], f"getent hosts {inventory.domain}", check=False).returncode != 0
    finally:
        lab.publish_records(dnsrecords.records(inventory, default_secrets(inventory)))


def test_inventory_for_both_engines(hosts):
    text = (REPO / "inventories/lab/hosts.yml").read_text()
    assert all(h.address in text for h in hosts.values())
    pyinfra = shutil.which("pyinfra", path=str(Path(sys.executable).parent))
    out = subprocess.run([pyinfra, "-y", "inventories/lab/inventory.py", "exec", "--", "hostname"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    output = out.stdout + out.stderr    # pyinfra reports on stderr
    assert re.search(r"^\[smoke1\]\s+smoke1$", output, re.M) and re.search(r"^\[outside\]\s+outside$", output, re.M)


def test_each_host_has_a_mail_disk_of_its_own(hosts):
    """An ext4 file system of lab.MAIL_DISK_SIZE at the mail store's path, not a folder of the root."""
    found = on(hosts["smoke1"], f"findmnt -n -b -o FSTYPE,SIZE {layout.VMAIL}").stdout.split()
    assert found and found[0] == "ext4", found
    assert 1.8e9 < int(found[1]) <= 2 * 2**30


def test_reboot_keeps_the_hosts_files(hosts):
    host = hosts["outside"]
    on(host, f"echo kept > /root/marker && echo kept > {layout.VMAIL}/marker && sync")
    on(host, "systemctl reboot", check=False)
    time.sleep(3)
    lab.wait_for_ssh(host)
    assert on(host, f"cat /root/marker {layout.VMAIL}/marker").stdout.split() == ["kept", "kept"]
    assert on(host, "systemctl is-system-running --wait").stdout.strip() == "running"


def test_taken_address_range_is_refused():
    out = govmail("lab", "up", "x1", env={"GOVMAIL_LAB_NETWORK": "127.0.0.0/24"})
    assert out.returncode == 2 and "taken by lo" in out.stderr


def test_not_root_is_refused():
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                          "govmail.cli", "lab", "up"], capture_output=True, text=True, cwd="/")
    assert out.returncode == 2 and "needs root" in out.stderr


def test_down_leaves_nothing_behind(hosts):
    pids = [h.pid for h in hosts.values()]
    out = govmail("lab", "down", *HOSTS)
    assert out.returncode == 0, out.stderr
    assert not any(lab.alive(p) for p in pids)
    assert not [l for l in Path("/proc").glob("[0-9]*/cmdline")
                if any(f"--machine={n}".encode() in l.read_bytes() for n in HOSTS)]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    assert not [l["ifname"] for l in links if l["ifname"].startswith(tuple(f"vb-{n}" for n in HOSTS))]
    assert not [m for m in Path("/proc/mounts").read_text().splitlines() if "/hosts/smoke" in m]
    for tree in lab.CGROUP_TREES:
        assert not any((tree / "govmail-lab" / n).exists() for n in HOSTS)
    groups = yaml.safe_load((REPO / "inventories/lab/hosts.yml").read_text())["all"]["children"].values()
    listed = {name for group in groups for name in (group.get("hosts") or {})}
    assert not listed & set(HOSTS), "stopped hosts leave the inventory"
    assert not any(Path(f"/run/systemd/nspawn/propagate/{n}").exists() for n in HOSTS)
