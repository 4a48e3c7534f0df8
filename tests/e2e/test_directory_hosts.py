"""A second provider of the directory (marker `drill`: run once): the lab host `directory1` joins the
inventory's group `directory`, the suite's engine deploys both hosts, and the mail host's tree is replicated
there; with it stopped, logins and deliveries go on and what changed meanwhile reaches it when it runs again.
Afterwards the host is removed and the deployment goes back to one directory."""

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from mailflow import govmail, imap_login, message, new_mailbox, submit, wait_delivered

from govmail import lab
from govmail.accounts import directory
from govmail.build import layout
from govmail.model import settings

pytestmark = [pytest.mark.e2e, pytest.mark.drill]
DIRECTORY_HOST = "directory1"


@pytest.fixture(scope="module")
def provider(env, redeploy_for_module):
    """directory1 up and deployed with the mail host (its slapd configuration changes: providers); afterwards
    removed, and the mail host deployed back to one directory."""
    lab.up([DIRECTORY_HOST])
    try:
        redeploy_for_module()
        env.admin = directory.connect(env.s)        # the deploy restarted slapd for its new configuration
        yield lab.load_hosts()[DIRECTORY_HOST]
    finally:
        lab.remove([DIRECTORY_HOST])
        redeploy_for_module()
        env.admin = directory.connect(env.s)


def entries(host: lab.Host, base: str, ldap_filter: str = "(objectClass=*)") -> list[str]:
    """The DNs under `base` that the host's own slapd holds (root over ldapi://)."""
    found = lab.ssh(host, [f"ldapsearch -Y EXTERNAL -Q -H ldapi:/// -LLL -o ldif-wrap=no -b '{base}' '{ldap_filter}' 1.1"],
                    check=False)
    return sorted(line for line in found.stdout.splitlines() if line.startswith("dn: "))


def eventually(found, wait: float = 60.0):
    deadline = time.monotonic() + wait
    while not (value := found()) and time.monotonic() < deadline:
        time.sleep(1)
    return value


def test_the_inventory_makes_the_lab_host_a_second_provider(provider, env):
    providers = settings.load(None, Path(env.s.inventory)).directory_providers
    assert [(p.server_id, p.name) for p in providers] == [(1, env.host.name), (2, DIRECTORY_HOST)]


def test_the_second_provider_holds_the_mail_hosts_tree(provider, env):
    base = env.s.base_dn
    assert eventually(lambda: entries(provider, base) == entries(env.host, base)), \
        set(entries(env.host, base)) ^ set(entries(provider, base))


def test_a_mailbox_made_on_the_mail_host_reaches_the_second_provider(provider, env):
    dn, _, _ = new_mailbox(env)
    assert eventually(lambda: entries(provider, dn)), dn


def test_ldaps_is_closed_to_the_outside_on_both_providers(provider, env, outside):
    for host in (env.host, provider):
        tried = subprocess.run(lab.ssh_command(outside, [
            f"python3 -c \"import socket; socket.create_connection(('{host.address}', {layout.LDAPS_PORT}), timeout=5)\""]),
            capture_output=True, text=True, timeout=60)
        assert "ConnectionRefusedError" in tried.stderr, host.name


def status_once_metrics_ran(env) -> str:
    """`govmail status` after the mail host's metrics job ran now (the timer runs it every minute) and
    Prometheus scraped it (every 15 s)."""
    lab.ssh(env.host, ["systemctl", "start", "govmail-metrics.service"], check=False)
    time.sleep(16)
    return govmail("status", check=False).stdout


def replication_state(status: str, peer: str) -> str:
    """What `govmail status` says of one replication stream ("streaming", "NOT streaming, ...")."""
    return next((line.strip()[len(peer):].strip() for line in status.splitlines() if line.strip().startswith(peer)),
                "(no line)")


def test_with_the_second_provider_down_mail_flows_and_it_catches_up(provider, env):
    """The operators see it too: `govmail status` says the mail host no longer streams directory1's changes
    and the DirectoryReplicationStopped alert fires; once it runs again, that it streams (within 30 s: slapd
    retries every 5 s for a minute, then every 30 s)."""
    peer = f"directory {env.s.mail_host} <- ldaps://{DIRECTORY_HOST}/"
    lab.down([DIRECTORY_HOST])
    try:
        dn, address, password = new_mailbox(env)
        imap_login(env, address, password).logout()
        submit(env, address, password, message(address, address, "Trong khi máy chủ thư mục thứ hai dừng"))
        assert wait_delivered(env, address, 1) == 1
        stopped = f"DirectoryReplicationStopped (ldaps://{DIRECTORY_HOST}/)"
        status = eventually(lambda: out if stopped in (out := status_once_metrics_ran(env)) else None, wait=180)
        assert status, status_once_metrics_ran(env)
        assert replication_state(status, peer).startswith("NOT streaming, last heard") and "NOT WELL" in status
    finally:
        lab.up([DIRECTORY_HOST])
    again = lab.load_hosts()[DIRECTORY_HOST]
    assert eventually(lambda: entries(again, dn), wait=120), f"{dn} reached the restarted provider"
    assert eventually(lambda: replication_state(status_once_metrics_ran(env), peer) == "streaming", wait=120)


def test_an_operator_writes_through_the_second_provider_while_the_mail_hosts_slapd_is_down(provider, env):
    """govmail falls back on the next provider that answers; the mail host has the entry once its slapd runs."""
    tag = uuid.uuid4().hex[:6]
    lab.ssh(env.host, ["systemctl", "stop", "slapd"])
    try:
        line = govmail("account", "add", "--kind", "agency", "--name", f"Sở Dự phòng {tag}",
                       "--abbrev", f"sdp{tag}").stdout
    finally:
        lab.ssh(env.host, ["systemctl", "start", "slapd"])
    env.admin = directory.connect(env.s)
    address = line.split("\t")[0]
    made = f"(mail={address})"
    assert entries(provider, env.s.base_dn, made), "written on the second provider"
    assert eventually(lambda: entries(env.host, env.s.base_dn, made)), "replicated to the mail host"
