import functools
import os
import re
import ssl
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
import testinfra

from govmail import lab
from govmail import reach
from govmail.accounts import directory
from govmail.build import dnsrecords
from govmail.build.secretstore import Secrets, store_dir
from govmail.model import settings
from govmail.model.profile import load_profile
from govmail.model.settings import Settings

pytest_plugins = ["ci_skips"]

# `govmail verify --inventory DIR`: the host checks against that inventory's mail host, deployed by the
# operator; nothing here deploys it, boots a lab host or serves lab DNS records.
VERIFY = os.environ.get("GOVMAIL_VERIFY_INVENTORY")
# The engine that deploys the lab host: pyinfra's deploy.py, or Ansible's roles (playbooks/site.yml); `none`
# when the host was deployed already (molecule's converge, or `govmail verify`) and the suites only check it.
ENGINE = "none" if VERIFY else os.environ.get("GOVMAIL_ENGINE", "pyinfra")
# scripts/test's drill phase: its first phase deployed the lab host for this province with this engine and
# secret store (GOVMAIL_SECRETS) and checked it; the drills start from that host and deploy when they need to.
DEPLOYED = os.environ.get("GOVMAIL_LAB_DEPLOYED") == "1"

# Secrets made while rendering in tests go to a throwaway store, never the operator's. A host deployed
# beforehand (ENGINE none) is checked against the store its deploy used: GOVMAIL_SECRETS or the default.
GIVEN_SECRETS = os.environ.get("GOVMAIL_SECRETS")
if ENGINE != "none":
    os.environ.setdefault("GOVMAIL_SECRETS", tempfile.mkdtemp(prefix="govmail-test-secrets-"))


@pytest.fixture
def profile():
    def _load(province):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_profile(province)
    return _load


# ---- a lab host deployed by pyinfra's deploy.py, shared by tests/infra and tests/e2e ----


REPO = Path(__file__).resolve().parents[1]
INVENTORY = Path(VERIFY) if VERIFY else REPO / "inventories" / "lab"
# Fixtures that change the host under test: a test using one is marked `changes` (govmail verify runs it
# only with --allow-changes). A test that changes the host itself carries the mark.
CHANGING_FIXTURES = {"directory", "book_entries", "redeploy"}
HOST = "mail1"
BACKUP_HOST = "backup"     # keeps the mail host's backups (the inventory's backup_target)
MONITOR_HOST = "monitor"   # runs Prometheus and Alertmanager for the mail host (the lab inventory's `monitor`)


# The province under test: the inventory's, or another one switched to with the single variable, exactly
# as an operator would (`pyinfra ... deploy.py --data province=danang`, `ansible-playbook ... -e province=danang`).
PROVINCE = os.environ.get("GOVMAIL_TEST_PROVINCE")
BIN = Path(sys.executable).parent


def pyinfra_deploy() -> subprocess.CompletedProcess:
    switch = ["--data", f"province={PROVINCE}"] if PROVINCE else []
    return subprocess.run([str(BIN / "pyinfra"), "-y", "inventories/lab/inventory.py", "deploy.py", *switch],
                          cwd=REPO, capture_output=True, text=True, timeout=1200)


def ansible_deploy() -> subprocess.CompletedProcess:
    switch = ["-e", f"province={PROVINCE}"] if PROVINCE else []
    return subprocess.run([str(BIN / "ansible-playbook"), "playbooks/site.yml", *switch], cwd=REPO,
                          capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})


def summary(output: str) -> dict[str, int]:
    """The engine's closing counts: operations (pyinfra) or tasks (Ansible), changed, errors."""
    if ENGINE == "ansible":
        recap = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
        assert recap, output[-2000:]
        ok, changed, unreachable, failed = map(int, recap.groups())
        return {"operations": ok, "changed": changed, "errors": unreachable + failed}
    line = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert line, output[-2000:]
    operations, changed, errors, _ = (0 if v == "-" else int(v) for v in line.groups())
    return {"operations": operations, "changed": changed, "errors": errors}


DEPLOY = {"pyinfra": pyinfra_deploy, "ansible": ansible_deploy}


def deploy_counts() -> dict[str, int]:
    """Deploy the lab host once with the suite's engine; the run's closing counts."""
    run = DEPLOY[ENGINE]()
    assert run.returncode == 0, run.stderr[-4000:] + run.stdout[-3000:]
    return summary(run.stdout + run.stderr)


@dataclass
class Deployment:
    """The lab host under test: the closing counts of the suite's deploy and its second run (None when the
    host was deployed outside the suite), the host, its settings and the secret store its deploy used."""
    first: dict[str, int] | None
    second: dict[str, int] | None
    host: lab.Host
    settings: Settings
    secrets: Secrets


def published(found: Deployment) -> Deployment:
    """The deployment's DNS records served by the lab DNS, as the operator publishes them after a deploy (the
    host's own probes of its public name resolve it there)."""
    lab.publish_records(dnsrecords.records(found.settings, found.secrets))
    return found


@pytest.fixture
def once():
    """For a check whose outcome depends on neither the province nor the engine (the files are the same
    bytes, tests/parity): it runs in the first suite only, not after a province switch nor under molecule."""
    if VERIFY:
        return      # an operator's host is checked whole
    if os.environ.get("GOVMAIL_TEST_PROVINCE"):
        pytest.skip("does not depend on the province: checked once, in the first suite")
    if os.environ.get("GOVMAIL_ENGINE") == "none":
        pytest.skip("does not depend on the engine: checked once, on the pyinfra-deployed host")


@pytest.fixture
def per_engine():
    """For a check whose outcome depends on the engine (packages, running services, owners and modes the engine
    sets) but not on the province: it runs in the first suite and under molecule, not after a province switch."""
    if VERIFY:
        return
    if os.environ.get("GOVMAIL_TEST_PROVINCE") and ENGINE != "none":
        pytest.skip("does not depend on the province: checked in the first suite and under molecule")


def pytest_collection_modifyitems(items):
    for item in items:
        if CHANGING_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.changes)


@functools.cache
def verified_target() -> reach.SshTarget:
    """The mail host of the inventory under `govmail verify`, as its hosts.yml names it (read once)."""
    return reach.mail_host(INVENTORY)


def deployed_elsewhere(host: lab.Host) -> Deployment:
    """A host this suite did not deploy, with the inventory's settings and the secret store its deploy used."""
    return Deployment(None, None, host, settings.load(PROVINCE, INVENTORY), Secrets(store_dir(str(INVENTORY))))


def verified_deployment() -> Deployment:
    return deployed_elsewhere(lab.Host("mail", verified_target().address, "", ""))


def deployed_before() -> Deployment:
    """The lab host as a deploy outside this suite left it."""
    return deployed_elsewhere(lab.load_hosts()[HOST])


@pytest.fixture(scope="session")
def deployment():
    if VERIFY:
        yield verified_deployment()
        return
    if os.geteuid() != 0:
        pytest.skip("unavailable here: the lab needs root")
    if ENGINE == "none":
        if HOST not in lab.load_hosts():
            pytest.fail(f"GOVMAIL_ENGINE=none checks a deployed lab host, and {HOST} is not up")
        yield published(deployed_before())
        return
    if ENGINE not in DEPLOY:
        pytest.fail(f"GOVMAIL_ENGINE={ENGINE!r}: choose one of {', '.join(DEPLOY)}, none")
    if DEPLOYED:
        if HOST not in lab.load_hosts() or not GIVEN_SECRETS:
            pytest.fail("GOVMAIL_LAB_DEPLOYED=1 needs the deployed lab host up and the GOVMAIL_SECRETS its deploy used")
        yield published(deployed_before())
        return
    fresh = not lab.load_hosts()
    up = subprocess.run([sys.executable, "-m", "govmail.cli", "lab", "up", HOST, BACKUP_HOST, MONITOR_HOST],
                        capture_output=True,
                        text=True)
    assert up.returncode == 0, up.stderr
    first = deploy_counts()
    # A second run proves the deploy idempotent; after a province switch once is enough (scripts/test).
    second = deploy_counts() if os.environ.get("GOVMAIL_TEST_IDEMPOTENCE", "1") == "1" else None
    yield published(Deployment(first, second, lab.load_hosts()[HOST], settings.load(PROVINCE, INVENTORY),
                               Secrets(store_dir(str(INVENTORY)))))
    if fresh:
        subprocess.run([sys.executable, "-m", "govmail.cli", "lab", "destroy"], capture_output=True)


@pytest.fixture
def redeploy(deployment):
    """Deploy the lab host once more with the suite's engine (deploy_counts)."""
    if ENGINE == "none":
        pytest.skip("deployed outside the suite (GOVMAIL_ENGINE=none): the suite deploys nothing")
    return deploy_counts


@pytest.fixture(scope="module")
def redeploy_for_module(deployment):
    """redeploy, for a module's fixture (a drill that adds a host for its module)."""
    if ENGINE == "none":
        pytest.skip("deployed outside the suite (GOVMAIL_ENGINE=none): the suite deploys nothing")
    return deploy_counts


@pytest.fixture(scope="session")
def ldap_server(deployment):
    """The host's slapd as an operator reaches it: it listens on loopback only, so through an SSH tunnel
    (govmail.reach), TLS checked against the deployment's CA. `ldap_server(389)` for StartTLS."""
    s, secrets = deployment.settings, deployment.secrets
    tunnels = {}

    def server(port: int = directory.LDAPS_PORT) -> ldap3.Server:
        if port not in tunnels or tunnels[port].process.poll() is not None:   # a drill rebuilt the host
            tunnels[port] = reach.Tunnel(directory.ssh_target(s), port)
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(secrets.directory / "ca.crt"),
                        valid_names=[s.mail_host])
        return ldap3.Server("127.0.0.1", port=tunnels[port].port, use_ssl=port == directory.LDAPS_PORT, tls=tls,
                            get_info=None, connect_timeout=5)
    yield server
    for tunnel in tunnels.values():
        tunnel.close()


def inventory_login(target: reach.SshTarget):
    """testinfra's host for an inventory's host, logged in as its hosts.yml says the engines do."""
    user = target.user or "root"
    return testinfra.get_host(f"ssh://{user}@{target.address}", ssh_identity_file=target.key,
                              ssh_extra_args=" ".join(target.options) or None, sudo=user != "root")


@pytest.fixture(scope="session")
def monitor(host, deployment):
    """Where Prometheus and Alertmanager run: the inventory's `monitor` host (as its hosts.yml says), else the
    mail host."""
    target = reach.inventory_host(INVENTORY, "monitor")
    return inventory_login(target) if target else host


@pytest.fixture(scope="session")
def host(deployment):
    if VERIFY:
        return inventory_login(verified_target())
    return testinfra.get_host(f"ssh://root@{deployment.host.address}", ssh_identity_file=str(lab.ssh_key()),
                              ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
