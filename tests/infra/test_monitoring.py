"""Monitoring on hosts deployed by either engine (GOVMAIL_ENGINE): the exporters on the mail host, Prometheus
and Alertmanager on the monitoring server (the `monitor` host, or the mail host itself) run, listen where
they should, their configuration passes their own checks, and Prometheus sees every part of the host
healthy."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import ldap3
import pytest

from govmail import lab
from govmail.build import layout
from govmail.build.components import MONITORING_SERVER_SERVICES, MONITORING_SERVICES, watched_units

from promql import api, query, run_rule_tests, series, settled, unit_names

pytestmark = pytest.mark.infra

@pytest.mark.parametrize("service", (*MONITORING_SERVICES, "prometheus-postfix-exporter"))
def test_the_exporters_run_and_start_at_boot(host, service, per_engine):
    assert host.service(service).is_running and host.service(service).is_enabled


@pytest.mark.parametrize("service", MONITORING_SERVER_SERVICES)
def test_the_monitoring_server_runs_and_starts_at_boot(monitor, service, per_engine):
    assert monitor.service(service).is_running and monitor.service(service).is_enabled


def test_prometheus_alertmanager_and_the_prober_listen_on_loopback_only(monitor, once):
    listening = monitor.socket.get_listening_sockets()
    for name in ("prometheus", "alertmanager", "blackbox"):
        port = layout.MONITOR_PORTS[name]
        assert f"tcp://127.0.0.1:{port}" in listening, name
        assert not [s for s in listening if s.endswith(f":{port}") and "127.0.0.1" not in s], name
    assert not [s for s in listening if s.endswith(":9094")], "Alertmanager's cluster port stays closed"


def test_the_exporters_listen_on_loopback_unless_a_monitor_host_scrapes_them(host, deployment, once):
    """On a single-node site the exporters answer on loopback alone; with a `monitor` host they answer on every
    address and the firewall admits that host alone (tests/e2e/test_alerts.py tries both from outside)."""
    listening = host.socket.get_listening_sockets()
    everywhere = deployment.settings.monitor_address is not None
    for name in ("node", "postfix", "dovecot"):
        port = layout.MONITOR_PORTS[name]
        assert f"tcp://{'0.0.0.0' if everywhere else '127.0.0.1'}:{port}" in listening, (name, listening)
        if not everywhere:
            assert not [s for s in listening if s.endswith(f":{port}") and "127.0.0.1" not in s], name


def test_the_configuration_passes_the_tools_own_checks(monitor):
    """promtool and amtool, as shipped with the packages on the monitor, read what govmail wrote."""
    rules = monitor.run(f"promtool check rules {layout.PROMETHEUS_RULES}")
    assert rules.rc == 0 and "SUCCESS" in rules.stdout, rules.stdout + rules.stderr
    config = monitor.run("promtool check config /etc/prometheus/prometheus.yml")
    assert config.rc == 0, config.stdout + config.stderr
    alerts = monitor.run("amtool check-config /etc/prometheus/alertmanager.yml")
    assert alerts.rc == 0 and "1 templates" in alerts.stdout, alerts.stdout + alerts.stderr


def failing_now(host) -> list[dict]:
    """Targets down and probes failing, among the targets scraped now: after a province switch restarted
    Prometheus, the old name's probes still answer queries for 5 minutes (no staleness marker is written for
    targets a restart dropped), but they are no longer scraped."""
    active = {(t["labels"]["job"], t["labels"]["instance"]) for t in api(host, "targets?state=active")["activeTargets"]}
    return [r for r in query(host, "up == 0 or probe_success == 0")
            if (r["metric"].get("job"), r["metric"].get("instance")) in active]


def test_every_target_is_scraped_and_every_public_listener_answers(monitor, deployment):
    """Every job scraped and up, every probe succeeding (waiting out a Prometheus that has just started and
    scraped nothing yet: no failure is not yet health)."""
    jobs = {"prometheus", "alertmanager", "node", "postfix", "dovecot", "probe_smtp_starttls", "probe_imaps",
            "probe_https"} | ({"probe_pop3s"} if "pop3" in deployment.settings.protocols else set()) \
        | ({"probe_backup_rest"} if deployment.settings.backup else set())

    def health(monitor, _):
        return failing_now(monitor), {r["metric"]["job"] for r in query(monitor, "up == 1")}
    down, up = settled(monitor, None, lambda found: not found[0] and jobs <= found[1], ask=health)
    assert down == [], [r["metric"] for r in down]
    assert jobs <= up, jobs - up
    assert ("probe_pop3s" in up) == ("pop3" in deployment.settings.protocols)


def test_prometheus_sees_every_service_the_deploy_started(monitor, deployment):
    units = set(watched_units(deployment.settings))
    expr = f'node_systemd_unit_state{{state="active",instance="{deployment.settings.mail_host}"}} == 1'
    active = settled(monitor, expr, lambda result: unit_names(result) == units)
    assert unit_names(active) == units


def test_the_certificate_expiry_is_read_from_every_tls_listener(monitor):
    expiry = query(monitor, "probe_ssl_earliest_cert_expiry - time()")
    assert expiry and all(float(r["value"][1]) > 21 * 86400 for r in expiry), expiry


def firing(host, _=None) -> list[dict]:
    return [a for a in api(host, "alerts")["alerts"] if a["state"] == "firing"]


def test_nothing_fires_on_a_healthy_host(monitor):
    found = settled(monitor, None, lambda result: not result, ask=firing)
    assert found == [], [a["labels"] for a in found]


def rule_tests(s) -> dict:
    """promtool's unit tests of the deployed rules: series that meet each alert's condition make it fire
    (with the labels operators see), healthy ones make none fire. Thresholds from the inventory's settings."""
    a, mail = s.alerts, s.mail_host
    unit = {"state": "active", "name": "clamav-daemon.service", "instance": mail}
    imaps = {"job": "probe_imaps", "instance": f"{mail}:993"}
    node = {"job": "node", "instance": mail}
    disk = {"mountpoint": "/var/vmail", "fstype": "ext4", "instance": mail}
    daily = {"database": "daily"}
    values = {   # series: (faulty, healthy)
        series("node_systemd_unit_state", **unit): ("0x40", "1x40"),
        series("probe_success", **imaps): ("0x40", "1x40"),
        series("up", **node): ("0x40", "1x40"),
        series("probe_ssl_earliest_cert_expiry", **imaps):
            (f"{(a.certificate_days - 1) * 86400}x40", f"{(a.certificate_days + 30) * 86400}x40"),
        series("node_filesystem_avail_bytes", **disk): (f"{99 - a.disk_percent}x40", f"{101 - a.disk_percent}x40"),
        series("node_filesystem_size_bytes", **disk): ("100x40", "100x40"),
        series("postfix_showq_message_age_seconds_count", queue="deferred", instance=mail):
            (f"{a.queue_size + 1}x40", f"{a.queue_size}x40"),
        series("dovecot_auth_failures_total", instance=mail): (f"0+{a.login_failures}x40", "0+1x40"),
        series("govmail_clamav_database_timestamp_seconds", **daily): (f"-{a.signature_age_seconds}x40", "0x40"),
        series("govmail_backup_last_success_timestamp_seconds"): (f"-{a.backup_age_seconds}x40", "0x40"),
        series("govmail_mail_queue_oldest_seconds", queue="deferred"):
            (f"{a.deferred_age_seconds + 60}x40", f"{a.deferred_age_seconds - 60}x40"),
    }
    # What operators see on each alert: its severity, and the labels its expression keeps from the series.
    expected = {
        "ServiceDown": unit | {"severity": "critical"},
        "ProbeFailed": imaps | {"severity": "critical"},
        "HostUnreachable": node | {"severity": "critical"},
        "CertificateExpiring": imaps | {"severity": "warning"},
        "DiskFilling": disk | {"severity": "critical"},
        "MailQueueGrowing": {"instance": mail, "severity": "warning"},
        "LoginFailures": {"severity": "warning"},
        "SignaturesOld": daily | {"severity": "warning"},
        "MailDeferred": {"queue": "deferred", "severity": "warning"},
    }
    if s.backup:
        expected["BackupOld"] = {"severity": "critical"}
    at = "10m"
    inputs = lambda which: [{"series": name, "values": v[which]} for name, v in values.items()]
    fired = [{"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": labels}]}
             for name, labels in expected.items()]
    quiet = [{"eval_time": at, "alertname": name, "exp_alerts": []} for name in expected]
    tests = [{"interval": "15s", "input_series": inputs(0), "alert_rule_test": fired},
             {"interval": "15s", "input_series": inputs(1), "alert_rule_test": quiet},
             gone_target_test({"ServiceDown": series("node_systemd_unit_state", **unit),
                               "ProbeFailed": series("probe_success", **imaps),
                               "HostUnreachable": series("up", **node)}, a.after_seconds)]
    if s.backup:   # no backup ever: fires once a backup would have been due
        tests.append({"interval": "1h", "input_series": [], "alert_rule_test": [
            {"eval_time": f"{a.backup_age_seconds // 3600 + 2}h", "alertname": "BackupNeverRan",
             "exp_alerts": [{"exp_labels": {"severity": "critical", "instance": s.mail_host}}]}]})
    return {"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": tests}


def gone_target_test(gone: dict[str, str], after_seconds: int) -> dict:
    """A target no longer scraped since its last sample, a failing one (the host renamed, then Prometheus
    restarted): that sample still answers queries for 5 minutes, but the alert (name: its series) does not
    fire on it once it is a minute old."""
    last_sample = 21 * 15
    at = last_sample + max(after_seconds + 30, 75)    # long past `for:`, well within the 5-minute lookback
    assert at < last_sample + 300, "this test needs alerts that hold for less than 4 minutes"
    return {"interval": "15s", "input_series": [{"series": name, "values": "1x20 0"} for name in gone.values()],
            "alert_rule_test": [{"eval_time": f"{at}s", "alertname": alert, "exp_alerts": []} for alert in gone]}


def test_every_alert_rule_fires_on_its_condition_and_not_otherwise(monitor, deployment):
    """promtool's rule tests, on the monitor, of the rules as deployed (their Vietnamese texts are checked by the
    alert mails of the drills, so left out here)."""
    run_rule_tests(monitor, rule_tests(deployment.settings))


@pytest.mark.lab_services
@pytest.mark.changes
def test_a_deferred_message_shows_how_long_it_has_waited(host, monitor, deployment, once):
    """A real deferred message (to the lab gateway's port 25, where nothing listens: connection refused)
    appears in the queue-age metric the MailDeferred alert reads, older at each run, and Prometheus has it."""
    gateway = str(lab.GATEWAY)
    sent = host.run(f"printf 'Subject: queue age\\n\\nx\\n' | sendmail -f postmaster@{deployment.settings.domain} "
                    f"'queue-age@[{gateway}]'")
    assert sent.rc == 0, sent.stderr
    try:
        ids = settled(host, None, bool, ask=lambda h, _: queued_to(h, gateway, "deferred"))
        assert ids, "the message to a refusing server is deferred"
        ages = []
        for _ in range(2):
            ages.append(gathered(host, "govmail-mail-queue.prom", 'govmail_mail_queue_oldest_seconds{queue="deferred"}'))
            time.sleep(2)
        assert 0 <= ages[0] < ages[1] < 600, ages
        scraped = settled(monitor, 'govmail_mail_queue_oldest_seconds{queue="deferred"} > 0', bool)
        assert scraped, "Prometheus reads the queue's age"
    finally:
        for queue_id in queued_to(host, gateway):
            host.run("postsuper -d %s", queue_id)


def queued_to(host, gateway: str, queue: str | None = None) -> list[str]:
    """Queue ids of the messages to that address literal (in that queue, or any)."""
    listing = host.check_output("postqueue -j")
    return [m["queue_id"] for m in map(json.loads, filter(None, listing.splitlines()))
            if queue in (None, m["queue_name"]) and any(gateway in r["address"] for r in m["recipients"])]


def gathered(host, name: str, series: str) -> int:
    """A series' value in one of govmail's textfile metrics, right after the metrics job ran."""
    host.check_output("systemctl start govmail-metrics.service")
    metrics = host.file(f"{layout.METRICS_DIR}/{name}").content_string
    return int(re.search(rf"^{re.escape(series)} (\d+)$", metrics, re.M)[1])


def slapd_binds(host) -> int:
    return gathered(host, "govmail-slapd.prom", 'govmail_slapd_operations_total{operation="bind"}')


def test_slapd_counts_its_binds_for_prometheus(host, monitor, deployment, ldap_server, once):
    s = deployment.settings
    before = slapd_binds(host)
    for _ in range(3):
        ldap3.Connection(ldap_server(), f"cn=dovecot,ou=services,{s.base_dn}",
                         deployment.secrets.password("ldap-dovecot"), auto_bind=True).unbind()
    assert slapd_binds(host) >= before + 3
    assert settled(monitor, 'govmail_slapd_operations_total{operation="bind"} > 0', bool), "Prometheus has them"
    assert settled(monitor, "govmail_slapd_connections > 0", bool)


def test_only_root_on_the_host_reads_slapds_counters(host, deployment, ldap_server, once):
    """cn=Monitor answers root over ldapi:// (the metrics job) and nobody else: not anonymous, not a service
    account, not a local user."""
    s = deployment.settings
    for who, password in ((None, None), (f"cn=dovecot,ou=services,{s.base_dn}", deployment.secrets.password("ldap-dovecot"))):
        conn = ldap3.Connection(ldap_server(), who, password, auto_bind=True)
        conn.search("cn=Monitor", "(objectClass=*)", attributes=["monitorCounter"])
        assert conn.entries == [] and conn.result["result"] == 32, (who, conn.result)
    nobody = host.run("runuser -u nobody -- ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b cn=Monitor -LLL dn")
    assert nobody.stdout == "" and "No such object" in nobody.stderr
    assert "cn=Monitor" in host.check_output("ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b cn=Monitor -s base -LLL dn")


@pytest.mark.lab_services
def test_ansible_finds_the_monitor_and_backup_hosts_as_pyinfra_left_them(deployment, once):
    """Both engines, one result, on the hosts besides the mail host too (molecule's Ansible site is a
    single-node one, and checks its backup host only for idempotence): Ansible's plays for groups `monitor`
    and `backup`, run after pyinfra's deploy, change nothing."""
    if not deployment.settings.monitor_address:
        pytest.skip("a single-node site: no monitor host (molecule converges the monitoring on the mail host)")
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/site.yml",
                          "--limit", "monitor:backup"], cwd=repo, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "ANSIBLE_CONFIG": str(repo / "ansible.cfg")})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in ("monitor", "backup"):
        recap = re.search(rf"^{name}\s+:\s+ok=(\d+)\s+changed=(\d+)", run.stdout, re.M)
        assert recap and int(recap[1]) > 10 and recap[2] == "0", run.stdout[-3000:]
