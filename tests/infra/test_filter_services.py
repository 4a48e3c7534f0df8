"""ClamAV, SpamAssassin, OpenDKIM and OpenDMARC on a host deployed by either engine (GOVMAIL_ENGINE): running,
offline, sized from the profile."""

import pytest

from govmail.render import PORTS

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("service", ["clamav-daemon", "clamav-milter", "spamd", "spamass-milter", "opendkim",
                                     "opendmarc"])
def test_filters_run_and_start_at_boot(host, service):
    assert host.service(service).is_running and host.service(service).is_enabled


def test_milters_listen_on_loopback_only(host):
    for port in PORTS.values():
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_nothing_reaches_for_the_internet(host, deployment):
    """freshclam runs only with the operator's mirror; sa-update's timer is off; spamd runs --local."""
    mirror = deployment["settings"].clamav_mirror
    assert host.service("clamav-freshclam").is_running is bool(mirror)
    assert not host.service("spamassassin-maintenance.timer").is_enabled
    assert "--local" in host.check_output("ps -o args= -C spamd")


def test_clamd_scans_whole_messages_up_to_postfix_limit(host, deployment):
    limit = deployment["settings"].message_size_limit
    config = host.file("/etc/clamav/clamd.conf").content_string
    assert f"\nStreamMaxLength {limit}\n" in config
    assert int(host.check_output("postconf -h message_size_limit")) == limit


def test_clamd_loads_govmail_signatures(host):
    assert host.check_output("clamdscan --ping 1") == "PONG"
    assert "Govmail.Test.EICAR" in host.file("/var/lib/clamav/govmail.ndb").content_string


def test_the_signing_key_is_opendkims_alone(host):
    from govmail.render import DKIM_KEY
    key = host.file(DKIM_KEY)
    assert (key.user, key.group, key.mode) == ("root", "opendkim", 0o640)
    assert "BEGIN RSA PRIVATE KEY" in host.check_output("head -1 %s", DKIM_KEY)
