"""Monitoring: alert thresholds from the inventory (project defaults otherwise), refused by name when out of
bounds; rules, exporters and the alert mail rendered from them; the regulation's incident deadline in the
alert mail where the province sets one."""

import re

import pytest
import yaml

from govmail.build import components
from govmail.build import layout
from govmail.build import render
from govmail.errors import BadInput
from govmail.model import settings


def alert_rules(s) -> dict[str, dict]:
    rules = yaml.safe_load(render.render_all(s)[layout.PROMETHEUS_RULES])["groups"][0]["rules"]
    return {rule["alert"]: rule for rule in rules}


def test_thresholds_move_one_by_one(inventory):
    s = settings.load(None, inventory("alerts: {after: 30 seconds, disk_percent: 90, certificate_days: 30, "
                                      "deferred_age: 1 hour}"))
    rules = alert_rules(s)
    assert rules["DiskFilling"]["expr"].endswith("> 90")
    assert rules["MailDeferred"]["expr"] == 'govmail_mail_queue_oldest_seconds{queue="deferred"} > 3600'
    assert "60 phút" in rules["MailDeferred"]["annotations"]["summary"]
    assert "< 30 * 86400" in rules["CertificateExpiring"]["expr"]
    assert {rule["for"] for name, rule in rules.items() if name != "BackupNeverRan"} == {"30s"}
    # what the inventory leaves out keeps the project default: ClamAV's signatures may be 2 days old
    assert rules["SignaturesOld"]["expr"].endswith(f"> {2 * 86400}")


@pytest.mark.parametrize("overrides, named", [
    ("alerts: {after: 1 second}", "after"),
    ("alerts: {after: 2 working days}", "after"),
    ("alerts: {disk_percent: 100}", "disk_percent"),
    ("alerts: {deferred_age: 5 seconds}", "deferred_age"),
    ("alerts: {afterr: 30 seconds}", "afterr"),
    ("metrics_retention: 2 hours", "metrics_retention"),
])
def test_bad_alert_overrides_are_refused_by_name(inventory, overrides, named):
    with pytest.raises(BadInput, match=named):
        settings.load(None, inventory(overrides))


def test_backup_alerts_only_where_backups_are_made(inventory):
    assert not {"BackupOld", "BackupNeverRan"} & set(alert_rules(settings.load(None, inventory(""))))
    with_backups = alert_rules(settings.load(None, inventory("backup_target: backup")))
    assert with_backups["BackupOld"]["expr"].endswith(f"> {26 * 3600}")


def test_the_incident_deadline_is_in_the_alert_mail_where_the_regulation_sets_one(inventory):
    # Đà Nẵng: 3712/QĐ-UBND Điều 11.2.h asks for a report within 8 hours; Hà Nam sets no deadline.
    danang = render.render_all(settings.load(None, inventory("", "danang")))[layout.ALERT_TEMPLATES]
    assert re.search(r"Theo 3712/QĐ-UBND Điều 11\.2\.h.*trong vòng 8 giờ", danang)
    hanam = render.render_all(settings.load(None, inventory("", "hanam")))[layout.ALERT_TEMPLATES]
    assert "báo cáo" not in hanam


def test_every_exporter_and_prometheus_listen_on_loopback_only(inventory):
    files = render.render_all(settings.load(None, inventory("")))
    for unit, port in [("prometheus", "prometheus"), ("prometheus-alertmanager", "alertmanager"),
                       ("prometheus-node-exporter", "node"), ("prometheus-blackbox-exporter", "blackbox"),
                       ("prometheus-postfix-exporter", "postfix")]:
        args = files[f"/etc/default/{unit}"]
        assert f"--web.listen-address=127.0.0.1:{layout.MONITOR_PORTS[port]}" in args, unit
    assert '--cluster.listen-address="' in files["/etc/default/prometheus-alertmanager"]     # no gossip port


def test_the_service_down_alert_watches_every_service_the_deploy_starts(inventory):
    s = settings.load(None, inventory("backup_target: backup"))
    args = render.render_all(s)["/etc/default/prometheus-node-exporter"]
    watched = re.search(r"--collector\.systemd\.unit-include=\(([^)]*)\)", args).group(1).split("|")
    started = {u for c in components.components(s).values() if c.role == "mail" for u in c.services}
    assert {u.removesuffix(".service") for u in watched} == started
    for unit in ("postfix.service", "govmail-backup.timer", "slapd.service", "php8.4-fpm.service"):
        assert unit in watched


def test_probes_cover_the_listeners_the_profile_opens(inventory):
    # Bắc Giang names POP3 (27/2018 Điều 5); Hà Nam does not.
    targets = lambda province: yaml.safe_load(render.render_all(settings.load(None, inventory("", province)))[
        "/etc/prometheus/prometheus.yml"])["scrape_configs"]
    probed = lambda province: {t for job in targets(province) if job["job_name"].startswith("probe_")
                               for t in job["static_configs"][0]["targets"]}
    assert probed("hanam") == {"mail.hanam.gov.vn:25", "mail.hanam.gov.vn:587", "mail.hanam.gov.vn:465",
                               "mail.hanam.gov.vn:993", "https://mail.hanam.gov.vn/"}
    assert "mail.bacgiang.gov.vn:995" in probed("bacgiang")
