"""Logs on the host: every log file is rotated and kept as long as the inventory says, rotation leaves each
service writing to its new file, and the journal survives reboots within its cap."""

import time

import pytest

from govmail.build import layout

pytestmark = pytest.mark.infra

# Files under /var/log that are not logs to rotate: the installer's one-off record, and lastlog's sparse
# database (one record per user, not a growing stream).
NOT_STREAMS = {"/var/log/bootstrap.log", "/var/log/lastlog"}


def considered(host) -> dict[str, str]:
    """What logrotate's own dry run says of its configuration: each log it would handle."""
    run = host.run("logrotate --debug /etc/logrotate.conf")
    assert run.rc == 0, run.stderr
    assert "error:" not in run.stderr.lower() and "error:" not in run.stdout.lower(), run.stderr
    return {line.split("considering log ", 1)[1].strip() for line in (run.stdout + run.stderr).splitlines()
            if "considering log " in line}


def test_logrotate_handles_every_log_file_on_the_host(host):
    files = set(host.check_output("find /var/log -type f ! -path '/var/log/journal/*' ! -name '*.gz' "
                                  "! -name '*.xz' ! -name '*-[0-9]*' ! -name '*.[0-9]'").split())
    assert files - considered(host) - NOT_STREAMS == set()


@pytest.mark.changes
def test_postfix_writes_to_a_new_file_after_its_rotation(host, deployment, once):
    host.check_output("logrotate --force /etc/logrotate.d/govmail")
    rotated = host.check_output(f"ls {layout.POSTFIX_LOG}-*").split()
    assert rotated, "the log was rotated"
    mark = f"govmail-rotation-{time.time_ns()}"
    host.check_output(f"printf 'Subject: {mark}\\n\\nx\\n' | /usr/sbin/sendmail postmaster@{deployment.settings.domain}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "status=sent" not in host.file(layout.POSTFIX_LOG).content_string:
        time.sleep(0.5)
    assert "status=sent" in host.file(layout.POSTFIX_LOG).content_string
    assert host.service("clamav-daemon").is_running and host.service("clamav-milter").is_running


def test_the_journal_is_kept_on_disk_within_its_cap(host, deployment):
    logs = deployment.settings.logs
    shown = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert f"SystemMaxUse={logs.journal_max_bytes}" in shown and f"MaxRetentionSec={logs.retention_days}day" in shown
    assert host.file("/var/log/journal").is_directory
    assert "/var/log/journal/" in host.check_output("journalctl --header -n 0 | grep 'File path' | head -1")


def test_the_deploys_that_changed_files_are_recorded(host, deployment):
    """Each deploy that changed govmail's files leaves a line: when, who, which engine, the province, the
    files. The last one is this deployment's (the suite's first run, or the switch to this province)."""
    s = deployment.settings
    # The log test above forces a rotation: the line may lie in a rotated file. Lines start with their time.
    last = sorted(host.check_output(f"zcat -f {layout.DEPLOY_LOG}*").splitlines())[-1]
    head, _, files = last.partition(": ")
    fields = dict(word.split("=", 1) for word in head.split()[1:])
    assert fields["engine"] in ("pyinfra", "ansible") and "@" in fields["by"]
    assert fields["province"] == s.province
    changed = [f for f in files.split() if not f.startswith("-")]
    dropped = [f[1:] for f in files.split() if f.startswith("-")]
    assert changed and int(fields["changed"]) == len(changed) and int(fields["dropped"]) == len(dropped)
    model = {f.path for f in layout.host_files(s.mail_host, s.backup is not None) if f.role == "mail"}
    assert set(changed) <= model, set(changed) - model
    # After a province switch the old name's certificate is no longer govmail's: listed as dropped.
    assert not set(dropped) & model, set(dropped) & model
    assert host.check_output(f"stat -c %a {layout.DEPLOY_LOG}* | sort -u") == "640"
