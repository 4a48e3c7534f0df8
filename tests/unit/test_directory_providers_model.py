"""Other providers of the directory, from the inventory's group `directory`: the model, the files they share
with the mail host, and who may reach ldaps://."""

import dataclasses
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from govmail.build import components
from govmail.build import layout
from govmail.errors import BadInput
from govmail.model import settings


def providers(hosts_yml, inventory_dir: Path, directory: dict[str, str], mail: str = "192.0.2.10") -> Path:
    return hosts_yml(inventory_dir, {"mail": {"mail1": mail}, "directory": directory})


def test_the_mail_host_is_provider_one_and_each_directory_host_another(inventory, hosts_yml):
    s = settings.load(None, providers(hosts_yml, inventory(""), {"directory1": "192.0.2.21", "directory2": "192.0.2.22"}))
    assert [(p.server_id, p.url, p.address) for p in s.directory_providers] == [
        (1, "ldaps://mail1/", "192.0.2.10"), (2, "ldaps://directory1/", "192.0.2.21"),
        (3, "ldaps://directory2/", "192.0.2.22")]
    config = components.host_files(s)[f"{layout.SLAPD_DIR}/slapd-config.ldif"]
    assert [line for line in config.splitlines() if line.startswith("olcServerID")] == [
        "olcServerID: 1 ldaps://mail1/", "olcServerID: 2 ldaps://directory1/", "olcServerID: 3 ldaps://directory2/"]


def test_no_directory_hosts_no_replication(inventory, hosts_yml):
    s = settings.load(None, providers(hosts_yml, inventory(""), {}))
    assert s.directory_providers == ()
    assert "directory_firewall" not in components.components(s)


def test_one_slapd_certificate_names_every_provider(inventory, hosts_yml):
    s = settings.load(None, providers(hosts_yml, inventory(""), {"directory1": "192.0.2.21"}))
    cert = x509.load_pem_x509_certificate(components.host_files(s)[f"{layout.SLAPD_DIR}/tls.crt"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [s.mail_host, "mail1", "directory1"]


def test_ldaps_answers_the_providers_alone_on_every_provider(inventory, hosts_yml):
    s = settings.load(None, providers(hosts_yml, inventory(""), {"directory1": "192.0.2.21"}))
    files = components.host_files(s)
    for path in ("/etc/govmail/nftables.conf", layout.DIRECTORY_FIREWALL):
        accepted = [line.split()[-2] for line in files[path].splitlines()
                    if line.strip().startswith("tcp dport 636 ip saddr")]
        assert accepted == ["192.0.2.10", "192.0.2.21"], path
        assert "tcp dport 636 counter reject with tcp reset" in files[path]
    assert components.facts(s, files)["slapd_listeners"] == \
        'SLAPD_SERVICES="ldap://127.0.0.1/ ldaps:/// ldapi:///"'


def test_a_directory_host_named_by_name_is_refused(inventory, hosts_yml):
    with pytest.raises(BadInput, match="host directory1's ansible_host is 'dir1.example.gov.vn'"):
        settings.load(None, providers(hosts_yml, inventory(""), {"directory1": "dir1.example.gov.vn"}))


def test_a_provider_inside_a_listed_peer_network_is_admitted_once(inventory, hosts_yml):
    s = settings.load(None, providers(hosts_yml, inventory("directory_peers: [192.0.2.16/28]"), {"directory1": "192.0.2.21"}))
    accepted = [line.split()[-2] for line in components.host_files(s)["/etc/govmail/nftables.conf"].splitlines()
                if line.strip().startswith("tcp dport 636 ip saddr")]
    assert accepted == ["192.0.2.16/28", "192.0.2.10"]


@pytest.mark.parametrize("monitor", [None, "192.0.2.50"])
def test_each_directory_host_is_scraped_by_prometheus_alone(inventory, hosts_yml, monitor):
    """Its node exporter answers the monitoring server (the monitor host, else the mail host) and reports its
    slapd, firewall and exporter; Prometheus scrapes it by address under its name."""
    groups = {"mail": {"mail1": "192.0.2.10"}, "directory": {"directory1": "192.0.2.21"}}
    s = settings.load(None, hosts_yml(inventory(""), groups | ({"monitor": {"monitor1": monitor}} if monitor else {})))
    files = components.host_files(s)
    scraper = monitor or "192.0.2.10"
    rules = [line.strip() for line in files[layout.DIRECTORY_FIREWALL].splitlines() if "dport 9100" in line]
    assert rules == ['tcp dport 9100 iif "lo" accept', f"tcp dport 9100 ip saddr {scraper} accept",
                     "tcp dport 9100 counter reject with tcp reset"]
    exporter = files["/etc/systemd/system/prometheus-node-exporter.service.d/govmail.conf"]
    assert exporter.splitlines()[-1].endswith(
        "--collector.systemd.unit-include=(slapd.service|govmail-directory-firewall.service|prometheus-node-exporter.service)")
    prometheus = yaml.safe_load(files["/etc/prometheus/prometheus.yml"])
    node = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "node")
    assert {"targets": ["192.0.2.21:9100"], "labels": {"instance": "directory1"}} in node["static_configs"]
    assert components.components(s)["directory_monitoring"].role == "directory"


def test_providers_known_by_url_alone_are_not_scraped(inventory, hosts_yml):
    """Providers without a host (the lifecycle suite's slapds on loopback ports): the files render, Prometheus
    scrapes the mail host alone, and no firewall line admits an unknown scraper."""
    s = settings.load(None, providers(hosts_yml, inventory(""), {}))
    s = dataclasses.replace(s, directory_providers=(settings.DirectoryProvider(1, "ldap://127.0.0.1:3891/"),
                                                    settings.DirectoryProvider(2, "ldap://127.0.0.1:3892/")))
    files = components.host_files(s)
    node = next(job for job in yaml.safe_load(files["/etc/prometheus/prometheus.yml"])["scrape_configs"]
                if job["job_name"] == "node")
    assert [c["labels"]["instance"] for c in node["static_configs"]] == [s.mail_host]
    assert [line.strip() for line in files[layout.DIRECTORY_FIREWALL].splitlines() if "dport 9100" in line] == [
        'tcp dport 9100 iif "lo" accept', "tcp dport 9100 counter reject with tcp reset"]
