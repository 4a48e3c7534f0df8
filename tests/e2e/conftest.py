"""The deployed lab host as the mail-flow tests see it: addresses, the directory's admin connection, the CA."""

import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
import pytest

from govmail import lab
from govmail.accounts import directory
from govmail.model.settings import Settings
from mailflow import publish


@dataclass
class Env:
    """The deployed host as a mail-flow test meets it. A drill that rebuilds the host or restarts slapd
    replaces `admin` (and `server`) with new connections."""
    s: Settings
    host: lab.Host
    address: str
    admin: ldap3.Connection            # the directory's root, through SSH (directory.connect)
    server: ldap3.Server               # slapd's ldaps://, through an SSH tunnel
    tls: ssl.SSLContext                # trusts the deployment's CA, not the host's name (reached by address)
    secrets_dir: Path
    made: list[str] = field(default_factory=list)    # entries to delete after the module


@pytest.fixture(scope="module")
def env(deployment, ldap_server):
    s, secrets, host = deployment.settings, deployment.secrets, deployment.host
    context = ssl.create_default_context(cadata=(secrets.directory / "ca.crt").read_text())
    context.check_hostname = False       # the lab reaches the host by address; the CA is still checked
    found = Env(s, host, host.address, directory.connect(s), ldap_server(), context, secrets.directory)
    yield found
    for dn in found.made:
        found.admin.delete(dn)


@pytest.fixture(scope="module")
def outside(deployment):
    """The lab host that plays the internet (its own address, not an operator network)."""
    hosts = lab.load_hosts()
    if "outside" not in hosts or not lab.alive(hosts["outside"].pid):
        lab.up(["outside"])
        # `lab up` serves the records of the lab inventory's own province: under another province (a switch,
        # molecule's Cần Thơ) the host's name would stop resolving, and its probes with it.
        publish()
    return lab.load_hosts()["outside"]


@pytest.fixture(scope="module")
def published(deployment):
    """The DNS records of the province under test, served by the lab DNS (after a province switch too)."""
    return publish()


@pytest.fixture(scope="module")
def outside_trusts_the_ca(outside, deployment, published):
    """`outside`'s system trust store holds the deployment's CA, as the world's trusts a public CA: its
    programs then verify the mail host's certificate with no option of ours."""
    ca = (deployment.secrets.directory / "ca.crt").read_text()
    run = subprocess.run(lab.ssh_command(outside, [
        "cat > /usr/local/share/ca-certificates/govmail-lab.crt && update-ca-certificates >/dev/null"]),
        input=ca, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return outside


@pytest.fixture(scope="module")
def browser(env):
    """Headless chromium on the lab's webmail, one per module (webpage.py)."""
    from webpage import start_browser
    driver = start_browser(env)
    yield driver
    driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A browser test that failed leaves what the browser showed: artifacts/failures/<test>.png and .html."""
    outcome = yield
    report = outcome.get_result()
    driver = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and driver is not None:
        from webpage import ARTIFACTS
        folder = ARTIFACTS / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(folder / f"{item.name}.png"))
        (folder / f"{item.name}.html").write_text(driver.page_source)
