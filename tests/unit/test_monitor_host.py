"""Where the monitoring server runs: on the mail host (every part on loopback), or on the inventory's
`monitor` host, which alone reaches the mail host's exporters and its unfiltered alerts listener."""

import pytest
import yaml

from govmail.build import components, layout
from govmail.errors import BadInput
from govmail.model import settings

MONITOR = "192.0.2.40"


def with_hosts(directory, monitor: str | None):
    children = {"mail": {"hosts": {"mail1": {"ansible_host": "192.0.2.10"}}}}
    if monitor:
        children["monitor"] = {"hosts": {"watcher": {"ansible_host": monitor}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}))
    return settings.load(None, directory)


def test_a_monitor_host_takes_prometheus_and_alertmanager_and_the_exporters_answer_it_alone(inventory):
    s = with_hosts(inventory(), MONITOR)
    parts = components.components(s)
    assert parts["monitoring_server"].role == "monitor" and parts["monitoring"].role == "mail"
    assert {f.role for f in parts["monitoring_server"].files} == {"monitor"}
    assert "prometheus.service" not in components.watched_units(s), "the mail host watches its own units"
    files = components.host_files(s)
    assert "--web.listen-address=0.0.0.0:9100" in files["/etc/default/prometheus-node-exporter"]
    assert 'targets: ["mail.hanam.gov.vn:9100"]' in files["/etc/prometheus/prometheus.yml"]
    assert "smtp_smarthost: mail.hanam.gov.vn:10027" in files["/etc/prometheus/alertmanager.yml"]
    firewall = files["/etc/govmail/nftables.conf"]
    assert f"tcp dport {{ 9100, 9154, 9900, 10027 }} ip saddr {MONITOR} accept" in firewall
    assert "tcp dport { 9100, 9154, 9900, 10027 } counter reject with tcp reset" in firewall
    assert f"10027 inet n  -       y       -       -       smtpd\n  -o syslog_name=postfix/alerts\n  -o mynetworks={MONITOR}\n" \
        in files["/etc/postfix/master.cf"]


def test_without_a_monitor_host_everything_stays_on_the_mail_host_on_loopback(inventory):
    s = with_hosts(inventory(), None)
    parts = components.components(s)
    assert parts["monitoring_server"].role == "mail"
    assert {f.role for f in parts["monitoring_server"].files} == {"mail"}
    assert "prometheus.service" in components.watched_units(s)
    files = components.host_files(s)
    assert "--web.listen-address=127.0.0.1:9100" in files["/etc/default/prometheus-node-exporter"]
    assert "smtp_smarthost: 127.0.0.1:10027" in files["/etc/prometheus/alertmanager.yml"]
    assert "9100" not in files["/etc/govmail/nftables.conf"], "nothing to open: the exporters are on loopback"
    assert "127.0.0.1:10027 inet n" in files["/etc/postfix/master.cf"]
    assert layout.PROBE_CA in files


def test_a_monitor_host_named_rather_than_addressed_is_refused(inventory):
    with pytest.raises(BadInput, match=r"hosts.yml: the monitor host's ansible_host is 'watcher.example'"):
        with_hosts(inventory(), "watcher.example")
