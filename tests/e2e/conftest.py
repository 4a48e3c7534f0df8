"""The deployed lab host as the mail-flow tests see it: addresses, the directory's admin connection, the CA."""

import ssl
import subprocess

import pytest

from govmail import lab
from govmail.accounts import directory
from mailflow import publish


@pytest.fixture(scope="module")
def env(deployment, ldap_server):
    s, secrets, host = deployment["settings"], deployment["secrets"], deployment["host"]
    server = ldap_server()
    admin = directory.connect(s)
    context = ssl.create_default_context(cadata=(secrets.directory / "ca.crt").read_text())
    context.check_hostname = False       # the lab reaches the host by address; the CA is still checked
    made = []
    found = {"s": s, "address": host.address, "admin": admin, "server": server, "tls": context, "made": made,
             "host": host}
    yield found
    for dn in made:
        found["admin"].delete(dn)      # a drill that rebuilt the host left its new connection here


@pytest.fixture(scope="module")
def outside(deployment):
    """The lab host that plays the internet (its own address, not an operator network)."""
    hosts = lab.load_hosts()
    if "outside" not in hosts or not lab.alive(hosts["outside"].pid):
        lab.up(["outside"])
    return lab.load_hosts()["outside"]


@pytest.fixture(scope="module")
def published(deployment):
    """The DNS records of the province under test, served by the lab DNS (after a province switch too)."""
    return publish()


@pytest.fixture(scope="module")
def outside_trusts_the_ca(outside, deployment, published):
    """`outside`'s system trust store holds the deployment's CA, as the world's trusts a public CA: its
    programs then verify the mail host's certificate with no option of ours."""
    ca = (deployment["secrets"].directory / "ca.crt").read_text()
    run = subprocess.run(lab.ssh_command(outside, [
        "cat > /usr/local/share/ca-certificates/govmail-lab.crt && update-ca-certificates >/dev/null"]),
        input=ca, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return outside


@pytest.fixture(scope="module")
def browser(env, deployment):
    """Headless chromium on the lab's webmail, one per module (webpage.py)."""
    from webpage import start_browser
    driver = start_browser(env, deployment)
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
