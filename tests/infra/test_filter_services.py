"""ClamAV, SpamAssassin, OpenDKIM and OpenDMARC on a host deployed by either engine (GOVMAIL_ENGINE): running,
offline, sized from the profile."""

import re

import pytest

from govmail import lab
from govmail.build.layout import METRICS_DIR, PORTS

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("service", ["clamav-daemon", "clamav-milter", "spamd", "spamass-milter", "opendkim",
                                     "opendmarc"])
def test_filters_run_and_start_at_boot(host, service, per_engine):
    assert host.service(service).is_running and host.service(service).is_enabled


def test_milters_listen_on_loopback_only(host, deployment, once):
    """And Postfix's own loopback listeners; the alerts listener too but with a monitor host, whose
    Alertmanager reaches it over the network (the firewall admits that host alone: tests/e2e/test_alerts.py)."""
    for name, port in PORTS.items():
        everywhere = name == "alerts" and deployment.settings.monitor_address is not None
        assert host.socket(f"tcp://{'0.0.0.0' if everywhere else '127.0.0.1'}:{port}").is_listening, name
        assert everywhere or not host.socket(f"tcp://0.0.0.0:{port}").is_listening, name


def test_spamassassin_reaches_for_nothing(host, once):
    """sa-update's timer is off; spamd runs --local (no network tests)."""
    assert not host.service("spamassassin-maintenance.timer").is_enabled
    assert "--local" in host.check_output("ps -o args= -C spamd")


def test_no_boot_time_freshclam_races_the_daemon(host, per_engine):
    """Debian's one-shot freshclam (at boot, then by a timer) would fight the freshclam daemon for its lock and
    leave a failed unit after each reboot."""
    for unit in ("clamav-freshclam-once.timer", "clamav-freshclam-once.service"):
        assert not host.service(unit).is_enabled, unit


def lab_signatures_url() -> str:
    return f"http://{lab.GATEWAY}:{lab.SIGNATURE_PORT}/{lab.LAB_SIGNATURES}"


@pytest.mark.lab_services
def test_freshclam_fetched_the_lab_mirror_and_keeps_watching_it(host, deployment, once):
    """The lab inventory names only the lab's signature mirror: freshclam fetched its file (govmail never
    writes it) and runs on, as it would against ClamAV's own mirrors."""
    assert deployment.settings.signatures.urls == (lab_signatures_url(),), "the lab inventory names the mirror"
    assert host.service("clamav-freshclam").is_running and host.service("clamav-freshclam").is_enabled
    fetched = host.file("/var/lib/clamav/govmail-lab.ndb")
    assert fetched.exists and fetched.user == "clamav"
    assert lab.LAB_SIGNATURE in fetched.content_string
    # The fetch may lie in a rotated log by now (the log test forces a rotation; a switch re-runs this one).
    logs = host.check_output("zcat -f /var/log/clamav/freshclam.log*")
    assert "govmail-lab.ndb updated" in logs


def test_the_signature_age_is_written_for_prometheus(host, once):
    status = host.file(f"{METRICS_DIR}/govmail-clamav.prom").content_string
    stamps = dict(re.findall(r'^govmail_clamav_database_timestamp_seconds\{database="([^"]+)"\} (\d+)$', status, re.M))
    assert set(stamps) == {"govmail-lab.ndb"}
    fetched = int(host.check_output("stat -c %Y /var/lib/clamav/govmail-lab.ndb"))
    assert int(stamps["govmail-lab.ndb"]) == fetched
    assert host.service("govmail-clamav-status.timer").is_running
    assert host.service("govmail-clamav-status.timer").is_enabled


@pytest.mark.lab_services
def test_a_signature_source_that_does_not_answer_fails_loudly_and_changes_nothing(host, once):
    """The deploy's fetch step, given a configuration whose source is missing on the mirror and one on an
    address where nothing listens: a non-zero exit naming both; the live databases and freshclam untouched."""
    before = host.check_output("ls -l --time-style=+%s /var/lib/clamav")
    absent = lab_signatures_url().replace("govmail-lab.ndb", "absent.ndb")
    unreachable = f"http://{lab.GATEWAY}:9/clamav/nowhere.ndb"
    host.check_output("mkdir -p /tmp/fetch-test/db && chown clamav /tmp/fetch-test/db")
    config = ("DatabaseOwner clamav\nDatabaseDirectory /tmp/fetch-test/db\nExcludeDatabase main\n"
              "ExcludeDatabase daily\nExcludeDatabase bytecode\nDatabaseMirror database.clamav.net\n"
              f"DatabaseCustomURL {absent}\nDatabaseCustomURL {unreachable}\n")
    host.check_output("printf %s > /tmp/fetch-test/freshclam.conf", config)
    try:
        run = host.run("/usr/local/lib/govmail/clamav-signatures fetch 0 --config /tmp/fetch-test/freshclam.conf")
    finally:
        host.run("rm -rf /tmp/fetch-test")
    assert run.rc == 1
    assert f"absent.ndb from {absent}" in run.stderr and f"nowhere.ndb from {unreachable}" in run.stderr
    assert "clamav_without_signatures" in run.stderr
    assert host.check_output("ls -l --time-style=+%s /var/lib/clamav") == before
    assert host.service("clamav-freshclam").is_running


def test_clamd_scans_whole_messages_up_to_postfix_limit(host, deployment):
    limit = deployment.settings.message_size_limit
    config = host.file("/etc/clamav/clamd.conf").content_string
    assert f"\nStreamMaxLength {limit}\n" in config
    assert int(host.check_output("postconf -h message_size_limit")) == limit


def test_clamd_loads_govmail_signatures(host):
    assert host.check_output("clamdscan --ping 1") == "PONG"
    assert "Govmail.Test.EICAR" in host.file("/var/lib/clamav/govmail.ndb").content_string


def test_the_signing_key_is_opendkims_alone(host, per_engine):
    from govmail.build.layout import DKIM_KEY
    key = host.file(DKIM_KEY)
    assert (key.user, key.group, key.mode) == ("root", "opendkim", 0o640)
    assert "BEGIN RSA PRIVATE KEY" in host.check_output("head -1 %s", DKIM_KEY)


@pytest.mark.lab_services
@pytest.mark.changes
def test_a_failed_fetch_leaves_freshclam_running(host, once):
    """The fetch step stops the freshclam daemon for its own run (the daemon holds the log): when a source
    added to the live configuration does not answer, the deploy fails and the daemon runs on all the same."""
    conf = "/etc/clamav/freshclam.conf"
    absent = lab_signatures_url().replace("govmail-lab.ndb", "absent.ndb")
    assert host.service("clamav-freshclam").is_running
    host.check_output("cp -p %s %s.keep && echo 'DatabaseCustomURL %s' >> %s", conf, conf, absent, conf)
    try:
        run = host.run("/usr/local/lib/govmail/clamav-signatures fetch 0")
    finally:
        host.check_output("mv %s.keep %s", conf, conf)
    assert run.rc == 1 and f"absent.ndb from {absent}" in run.stderr
    assert host.service("clamav-freshclam").is_running
    assert not host.file("/var/lib/govmail/clamav/signatures-0").exists
    host.check_output("systemctl restart clamav-freshclam")      # it read the configuration with the test's source
