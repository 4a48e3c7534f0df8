"""The host's own defences on a host deployed by either engine (GOVMAIL_ENGINE): govmail's nftables table,
fail2ban's jails and whom they never ban. What they do to an attacker is drilled in tests/e2e/test_outsider.py."""

import ipaddress

import pytest

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("service", ["govmail-firewall", "fail2ban", "policyd-rate-limit"])
def test_defences_run_and_start_at_boot(host, service, per_engine):
    assert host.service(service).is_running and host.service(service).is_enabled


def test_govmail_table_is_loaded(host, per_engine):
    assert "meta skuid" in host.check_output("nft list table inet govmail")


def test_fail2ban_watches_every_login_path(host):
    jails = host.check_output("fail2ban-client status")
    for jail in ("dovecot", "roundcube-auth"):
        assert jail in jails


def test_operators_and_the_host_are_never_banned(host, deployment, once):
    listed = host.check_output("fail2ban-client get dovecot ignoreip").splitlines()[1:]
    ignored = [ipaddress.ip_network(line.split(" ", 1)[1]) for line in listed]
    for network in ["127.0.0.0/8", *deployment.settings.defences.operator_networks]:
        assert ipaddress.ip_network(network) in ignored, (network, ignored)


def test_an_address_is_banned_before_a_mailbox_locks(host, deployment):
    s = deployment.settings
    assert int(host.check_output("fail2ban-client get dovecot maxretry")) < s.policies["users"].max_failures
