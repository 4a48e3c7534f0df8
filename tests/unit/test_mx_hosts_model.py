"""MX hosts apart from the mail host (hosts.yml group `mx`): each receives on port 25 with the whole filter chain,
greets with its own name and certificate, and hands its mail to the mail host's Dovecot over LMTP with STARTTLS;
the mail host admits them alone to that listener; the DNS publishes every MX."""

import pytest
from cryptography import x509

from govmail.build import components
from govmail.build import dnsrecords
from govmail.build import layout
from govmail.build.secretstore import Secrets, store_dir
from govmail.errors import BadInput
from govmail.model import settings

MAIL, MX = "192.0.2.10", "192.0.2.41"


def with_mx(inventory, hosts_yml, overrides: str = "") -> settings.Settings:
    return settings.load(None, hosts_yml(inventory(overrides), {
        "mail": {"mail1": MAIL}, "directory": {"mx1": MX}, "mx": {"mail1": MAIL, "mx1": MX}}))


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def names_in(pem: str) -> list[str]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_the_mail_host_in_group_mx_is_no_mx_host_apart(inventory, hosts_yml):
    assert with_mx(inventory, hosts_yml).mx_hosts == ("mx1",)


def test_an_mx_host_must_be_a_directory_host_too(inventory, hosts_yml):
    with pytest.raises(BadInput, match="mx1 must be in group directory too"):
        settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}, "mx": {"mx1": MX}}))


def test_an_operators_certificate_for_the_mail_host_alone_is_refused_with_mx_hosts(inventory, hosts_yml):
    found = inventory("")
    for name in ("cert.pem", "key.pem"):
        (found / name).write_text("")
    with pytest.raises(BadInput, match="tls_certificate_file covers the mail host alone"):
        with_mx(inventory, hosts_yml, "tls_certificate_file: cert.pem, tls_key_file: key.pem")


def test_an_mx_host_greets_with_its_own_name_and_certificate(inventory, hosts_yml):
    s = with_mx(inventory, hosts_yml)
    files = components.host_files(s, "mx1")
    main = lines(files["/etc/postfix/main.cf"])
    cert, key = layout.tls_paths("mx1")
    assert "myhostname = mx1" in main
    assert f"smtpd_tls_chain_files = {key}, {cert}" in main
    assert names_in(files[cert]) == ["mx1"]
    assert {f.path for f in components.components(s, "mx1")["tls"].files} == {cert, key}
    assert layout.DEPLOY_MANIFEST not in {f.path for f in components.components(s, "mx1")["logging"].files}
    # The mail host keeps its own name and certificate.
    assert f"myhostname = {s.mail_host}" in lines(components.host_files(s)["/etc/postfix/main.cf"])


def test_an_mx_host_hands_its_mail_to_the_mail_host_over_lmtp_with_starttls(inventory, hosts_yml):
    s = with_mx(inventory, hosts_yml)
    main = lines(components.host_files(s, "mx1")["/etc/postfix/main.cf"])
    for line in ("virtual_transport = lmtp:inet:mail1:24", "lmtp_tls_security_level = secure",
                 "lmtp_tls_secure_cert_match = nexthop", f"lmtp_tls_CAfile = {layout.SLAPD_DIR}/tls-ca.crt",
                 "govmail_mailbox_quota = check_policy_service { inet:mail1:12340, timeout=5s, try_limit=1, "
                 "default_action=DUNNO }"):
        assert line in main, line
    mail = components.host_files(s)
    assert "mail1" in names_in(mail[layout.STORE_CERT])
    front = lines(mail[layout.DOVECOT_FRONT])
    assert f"ssl_server_cert_file = {layout.STORE_CERT}" in front and "port = 24" in front


def test_an_mx_host_offers_port_25_alone(inventory, hosts_yml):
    s = with_mx(inventory, hosts_yml)
    services = [line.split()[0] for line in components.host_files(s, "mx1")["/etc/postfix/master.cf"].splitlines()
                if line and not line[0].isspace() and not line.startswith(("#", "{"))]
    assert "smtp" in services
    assert not [name for name in services if name.startswith(("submission", "127.0.0.1:", "10027", f"{MAIL}:"))]
    assert "submission" in components.host_files(s)["/etc/postfix/master.cf"]


def test_the_mail_host_admits_the_mx_hosts_alone_to_its_lmtp_and_quota_listeners(inventory, hosts_yml):
    rules = lines(components.host_files(with_mx(inventory, hosts_yml))["/etc/govmail/nftables.conf"])
    assert rules.index(f"tcp dport {{ 24, 12340 }} ip saddr {MX} accept") \
        < rules.index("tcp dport { 24, 12340 } counter reject with tcp reset")


def test_the_dns_names_every_mx_and_the_mta_sts_policy_lists_them(inventory, hosts_yml, tmp_path):
    s = with_mx(inventory, hosts_yml)
    found = dnsrecords.records(s, Secrets(store_dir(s.inventory)))
    assert [r.value for r in found if r.type == "MX"] == [f"10 {s.mail_host}", "10 mx1"]
    assert [(r.name, r.value) for r in found if r.type == "A" and r.name == "mx1"] == [("mx1", MX)]
    assert [line for line in dnsrecords.mta_sts_policy(s).split("\r\n") if line.startswith("mx:")] == [
        f"mx: {s.mail_host}", "mx: mx1"]


def test_the_monitoring_watches_postfix_and_its_filters_on_the_mx_host(inventory, hosts_yml):
    s = with_mx(inventory, hosts_yml)
    units = components.directory_host_units(s, "mx1")
    assert {"postfix.service", "clamav-daemon.service", "spamd.service", "slapd.service"} <= set(units)
    assert len(units) == len(set(units))


def test_the_monitoring_server_alone_scrapes_the_mx_hosts_postfix_exporter(inventory, hosts_yml):
    """Its queues count apart from the mail host's: Prometheus scrapes its exporter under its name; the exporter
    answers on its address, which its firewall opens to the scraper alone; its Dovecot metrics stay on loopback."""
    s = with_mx(inventory, hosts_yml)
    port = layout.MONITOR_PORTS["postfix"]
    prometheus = components.host_files(s)["/etc/prometheus/prometheus.yml"]
    assert f'- targets: ["{MX}:{port}"]\n        labels: {{instance: mx1}}' in prometheus
    on_mx = components.host_files(s, "mx1")
    assert f"--web.listen-address=0.0.0.0:{port} " in on_mx["/etc/default/prometheus-postfix-exporter"]
    rules = lines(on_mx[layout.DIRECTORY_FIREWALL])
    scraped = f"{{ {layout.MONITOR_PORTS['node']}, {port} }}"
    assert rules.index(f"tcp dport {scraped} ip saddr {MAIL} accept") \
        < rules.index(f"tcp dport {scraped} counter reject with tcp reset")
    assert "listen = 127.0.0.1" in lines(on_mx["/etc/dovecot/dovecot.conf"])
