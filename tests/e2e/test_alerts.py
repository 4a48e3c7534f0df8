"""Faults that lose nothing, and the operators hear of them (marker `drill`: run once, in the drill phase of
scripts/test): clamd stopped, mail deferred, an alert mail in Vietnamese; clamd back, the mail delivered
once, the alert resolved. And the monitoring's listeners as an outsider meets them: closed."""

import dataclasses
import email
import json
import os
import time
from pathlib import Path

import pytest

from govmail import reach
from govmail.accounts import directory
from govmail.build import layout
from govmail.build.components import watched_units
from mailflow import (delivered_count, govmail, message, messages, new_mailbox, plain_text, postfix_log, submit,
                      wait_delivered)
from test_outsider import SEND, connect_outcomes, probe

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(os.environ.get("GOVMAIL_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


def screenshot_alerts_page(s) -> Path:
    """Prometheus's alerts page as an operator sees it through SSH (README's "Monitoring" section)."""
    from selenium import webdriver
    tunnel = reach.Tunnel(directory.monitoring_target(s), layout.MONITOR_PORTS["prometheus"])
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    try:
        driver.get(f"http://127.0.0.1:{tunnel.port}/classic/alerts")      # Debian ships the classic pages
        deadline = time.monotonic() + 20
        while "ServiceDown" not in driver.page_source and time.monotonic() < deadline:
            time.sleep(1)
        assert "ServiceDown" in driver.page_source, "the alerts page shows the firing alert"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "prometheus-alerts.png"
        assert driver.save_screenshot(str(shot))
        return shot
    finally:
        driver.quit()
        tunnel.close()


def operators_mail(env) -> list[email.message.EmailMessage]:
    return messages(env, f"postmaster@{env.s.domain}")


def wait_for_alert(env, marker: str, about: str, seen: int, wait: float) -> tuple[email.message.EmailMessage, float]:
    """The first alert mail after the first `seen` messages whose subject starts with `marker` and whose text
    names `about`; and how long it took."""
    start = time.monotonic()
    while time.monotonic() - start < wait:
        for msg in operators_mail(env)[seen:]:
            if str(msg["Subject"]).startswith(marker) and about in plain_text(msg):
                return msg, time.monotonic() - start
        time.sleep(3)
    pytest.fail(f"no alert mail {marker} about {about} within {wait:.0f} s")


@pytest.mark.drill
def test_stopped_clamd_defers_mail_alerts_the_operators_and_loses_nothing(outside, env, host):
    s = env.s
    after = s.alerts.after_seconds
    _, address, _ = new_mailbox(env)
    seen = len(operators_mail(env))
    send = SEND + f"send('tin@ngoai.test', 'Tin <tin@ngoai.test>', '{address}')"
    host.run("systemctl stop clamav-daemon")
    try:
        deferred = probe(outside, env, send)
        assert deferred["code"] // 100 == 4, deferred       # 4xx: the sender keeps it and tries again
        # scrape (15 s) + `for:` + rule evaluation (15 s) + Alertmanager's group_wait (10 s) + delivery
        alert, took = wait_for_alert(env, "[CẢNH BÁO]", "clamav-daemon", seen, after + 120)
        print(f"alert mail {took:.0f} s after clamd stopped (for: {after} s)")
        assert alert["To"] == f"postmaster@{s.domain}"
        assert "Hệ thống thư điện tử đang có sự cố" in plain_text(alert)
        if s.alerts.incident_report:
            deadline, article = s.alerts.incident_report
            assert f"Theo {article}, sự cố phải được báo cáo trong vòng {deadline}" in plain_text(alert)
        assert delivered_count(env, address) == 0
        status = govmail("status", check=False)
        assert status.returncode == 1 and "NOT WELL" in status.stdout, status.stdout + status.stderr
        assert "clamav-daemon.service is not running" in status.stdout
        assert "ServiceDown (clamav-daemon.service)" in status.stdout
        screenshot_alerts_page(s)
    finally:
        host.run("systemctl start clamav-daemon")
    deadline = time.monotonic() + 180           # the sender tries again, as mail servers do, until clamd is up
    while (retried := probe(outside, env, send))["code"] // 100 == 4 and time.monotonic() < deadline:
        time.sleep(10)
    assert retried["code"] == 250, retried
    assert wait_delivered(env, address, 1) == 1
    resolved, took = wait_for_alert(env, "[ĐÃ KHẮC PHỤC]", "clamav-daemon", seen, after + 180)
    print(f"resolved mail {took:.0f} s after clamd was back")
    assert delivered_count(env, address) == 1, "delivered exactly once"


def postfix_outcomes(env, address: str) -> list[str]:
    """The status= of each of Postfix's delivery attempts to `address`, in its log."""
    return [line.split("status=")[1].split()[0] for line in postfix_log(env)
            if f"to=<{address}>" in line and "status=" in line]


@pytest.mark.drill
def test_a_full_mail_disk_defers_mail_alerts_the_operators_and_loses_nothing(env, host):
    """The mail store's disk full (every block a mailbox may use taken): a message is kept in Postfix's queue
    (another disk) and tried again, never bounced; the DiskFilling alert fires, and its mail waits in the queue
    like any other. Space freed: both arrive."""
    s = env.s
    _, sender, password = new_mailbox(env)
    _, address, _ = new_mailbox(env)
    submit(env, sender, password, message(sender, address, subject="Thư trước"))   # its folders exist
    assert wait_delivered(env, address, 1) == 1
    seen = len(operators_mail(env))
    operators = f"postmaster@{s.domain}"
    tried = len(postfix_outcomes(env, operators))
    filler = f"{layout.VMAIL}/govmail-drill-filler"
    host.check_output(f"fallocate -l $(( $(stat -f -c '%a * %S' {layout.VMAIL}) )) {filler}")
    try:
        assert host.run(f"stat -f -c %a {layout.VMAIL}").stdout.strip() == "0", "nothing left for a mailbox"
        submit(env, sender, password, message(sender, address, subject="Ổ đĩa đầy"))
        deadline = time.monotonic() + 60
        while "deferred" not in postfix_outcomes(env, address) and time.monotonic() < deadline:
            time.sleep(2)
        assert postfix_outcomes(env, address)[1:] and set(postfix_outcomes(env, address)[1:]) == {"deferred"}
        deadline = time.monotonic() + s.alerts.after_seconds + 120
        while "DiskFilling" not in (status := govmail("status", check=False)).stdout and time.monotonic() < deadline:
            time.sleep(10)
        assert status.returncode == 1 and f"DiskFilling ({layout.VMAIL})" in status.stdout, status.stdout
        deadline = time.monotonic() + 90          # Alertmanager's group_wait, then the mail meets the full disk
        while "deferred" not in postfix_outcomes(env, operators)[tried:] and time.monotonic() < deadline:
            time.sleep(3)
        assert "deferred" in postfix_outcomes(env, operators)[tried:], "the alert mail waits in the queue"
        assert delivered_count(env, address) == 1
    finally:
        host.run(f"rm -f {filler}")
    host.check_output("postqueue -f")
    assert wait_delivered(env, address, 2, wait=60) == 2
    alert, took = wait_for_alert(env, "[CẢNH BÁO]", layout.VMAIL, seen, 120)
    assert "khi đầy, thư đến sẽ bị hoãn" in plain_text(alert)
    assert "bounced" not in postfix_outcomes(env, address)
    assert [m for m in messages(env, sender) if "Undelivered" in str(m["Subject"])] == []
    assert delivered_count(env, address) == 2, "delivered exactly once"


SERVER_PORTS = [layout.MONITOR_PORTS[name] for name in ("prometheus", "alertmanager", "blackbox")] + [9094]
EXPORTER_PORTS = [layout.MONITOR_PORTS[name] for name in ("node", "postfix", "dovecot")] + [layout.PORTS["alerts"]]


def test_the_monitoring_is_closed_to_the_outside(outside, env, once):
    """Prometheus, Alertmanager (and its cluster port), the exporters and Postfix's alerts listener: from
    outside every port of the mail host is refused (on loopback, or refused by the firewall when a monitor
    host scrapes them)."""
    ports = SERVER_PORTS + EXPORTER_PORTS
    found = connect_outcomes(outside, env, ports)
    assert found == {str(port): "ConnectionRefusedError" for port in ports}


def test_the_monitoring_host_is_closed_to_the_outside(outside, env, once):
    if not env.s.monitor_address:
        pytest.skip("a single-node site: no monitor host (the mail host's ports: the test above)")
    found = connect_outcomes(outside, dataclasses.replace(env, address=env.s.monitor_address), SERVER_PORTS)
    assert found == {str(port): "ConnectionRefusedError" for port in SERVER_PORTS}


def connects(on, as_user: str, address: str, port: int) -> bool:
    """Whether `as_user` on that host connects to address:port."""
    script = f"import socket; socket.create_connection(({address!r}, {port}), timeout=5).close()"
    return on.run(f"runuser -u {as_user} -- python3 -c {json.dumps(script)}").rc == 0


def test_the_exporters_and_the_alerts_listener_answer_the_monitor_host(monitor, env, once):
    if not env.s.monitor_address:
        pytest.skip("a single-node site: the exporters answer on loopback (tests/infra/test_monitoring.py)")
    for port in EXPORTER_PORTS:
        assert connects(monitor, "prometheus", env.s.mail_host, port), port


def test_only_alertmanager_may_use_the_unfiltered_alerts_listener(host, monitor, env, once):
    port = layout.PORTS["alerts"]
    assert not connects(host, "www-data", "127.0.0.1", port), "the web server's user is refused"
    assert not connects(host, "vmail", "127.0.0.1", port), "Dovecot's deliveries are refused"
    if env.s.monitor_address:
        assert not connects(host, "prometheus", "127.0.0.1", port), "on the mail host nobody may"
        assert connects(monitor, "prometheus", env.s.mail_host, port), "Alertmanager's host may"
    else:
        assert connects(host, "prometheus", "127.0.0.1", port)


def test_status_says_all_is_well_on_a_healthy_host(env):
    """What an operator runs first in the morning: exit code 0, every service counted."""
    units = len(watched_units(env.s))
    deadline = time.monotonic() + 90          # an alert an earlier test caused may still be resolving
    while (status := govmail("status", check=False)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(10)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"{env.s.mail_host}: all is well" in status.stdout
    assert f"{units}/{units} running" in status.stdout
    assert [line.split() for line in status.stdout.splitlines() if "alerts firing" in line] == [
        ["alerts", "firing", "none"]]
