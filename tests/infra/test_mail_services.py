"""Postfix and Dovecot on a host deployed by either engine (GOVMAIL_ENGINE): packages, services, ports, profile values."""

import pytest

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("package", ["postfix", "postfix-ldap", "postfix-pcre", "dovecot-imapd", "dovecot-lmtpd",
                                     "dovecot-ldap", "dovecot-sieve", "dovecot-managesieved"])
def test_packages(host, package, per_engine):
    assert host.package(package).is_installed


@pytest.mark.parametrize("service", ["postfix", "dovecot", "slapd"])
def test_services_run_and_start_at_boot(host, service, per_engine):
    assert host.service(service).is_running and host.service(service).is_enabled


def test_listening_ports(host, deployment):
    pop3 = "pop3" in deployment.settings.protocols
    for port in (25, 587, 465, 993, 143, 4190):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
    for port in (110, 995):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening is pop3, port
    for internal in ("tcp://127.0.0.1:12340", "tcp://127.0.0.1:10026"):
        assert host.socket(internal).is_listening, internal


def test_postfix_values_equal_the_profile(host, deployment):
    s = deployment.settings
    assert host.check_output("postconf -h message_size_limit") == str(s.message_size_limit)
    assert host.check_output("postconf -h myhostname") == s.mail_host
    assert host.check_output("postconf -h virtual_mailbox_domains") == s.domain


def test_dovecot_values_equal_the_profile(host, deployment):
    s = deployment.settings
    personal = s.quotas["personal"].bytes or 0
    assert host.check_output("doveconf -h quota_storage_size") == str(personal)
    assert host.check_output("doveconf -h ssl") == "required"


def test_secrets_on_the_host_are_not_world_readable(host, per_engine):
    for path in ("/etc/dovecot/dovecot.conf", "/etc/postfix/ldap/mailboxes.cf", "/etc/ldap/govmail/slapd-config.ldif"):
        assert host.file(path).mode & 0o007 == 0, path
    key = [f for f in host.file("/etc/govmail/tls").listdir() if f.endswith(".key")][0]
    assert host.file(f"/etc/govmail/tls/{key}").mode == 0o600
