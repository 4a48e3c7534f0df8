"""Logs: how long they are kept comes from the inventory (project default a year), never under 30 days; every
log file a service writes has a logrotate rule that keeps it that long."""

import pytest

from govmail.build import components
from govmail.build import layout
from govmail.errors import BadInput
from govmail.model import settings


def rules(files: dict[str, str]) -> dict[str, list[str]]:
    """Each rotated path -> the directives of its block, from every logrotate file."""
    found = {}
    for path, text in files.items():
        if not path.startswith("/etc/logrotate.d/"):
            continue
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        heads, body = [], []
        for line in lines:
            if line.endswith("{"):
                heads.append(line[:-1].strip())
            elif line == "}":
                for head in " ".join(heads).split():
                    found[head] = body
                heads, body = [], []
            elif line.startswith("/") and not body:
                heads.append(line)
            else:
                body.append(line)
    return found


def test_a_year_by_default_counted_generously(inventory):
    s = settings.load(None, inventory(""))
    assert s.logs.retention_days == 366 and s.logs.source == "project default"
    assert settings.load(None, inventory("log_retention: 2 years")).logs.retention_days == 731


@pytest.mark.parametrize("overrides", ["log_retention: 7 days", "log_retention: 5 working days",
                                       "journal_max_use: 10MB", "journal_max_use: unlimited"])
def test_too_little_is_refused_by_name(inventory, overrides):
    with pytest.raises(BadInput, match=overrides.split(":")[0]):
        settings.load(None, inventory(overrides))


def test_every_log_file_is_kept_as_long_as_the_inventory_says(inventory):
    s = settings.load(None, inventory("log_retention: 18 months"))
    found = rules(components.host_files(s))
    for log in [layout.POSTFIX_LOG, *layout.CLAMAV_LOGS.values(), "/var/log/nginx/*.log", "/var/log/roundcube/*.log",
                "/var/log/fail2ban.log", f"/var/log/php{layout.PHP_VERSION}-fpm.log"]:
        assert f"rotate {s.logs.retention_days}" in found[log], log
        assert "daily" in found[log] and "compress" in found[log], log
    assert s.logs.retention_days == 550     # July 2003 to January 2005, a leap year between


def test_the_journal_is_persistent_and_capped(inventory):
    s = settings.load(None, inventory("journal_max_use: 4GB, log_retention: 2 years"))
    conf = components.host_files(s)[layout.JOURNALD_CONF].splitlines()
    assert {"Storage=persistent", "MaxRetentionSec=731day", f"SystemMaxUse={4 * 2**30}"} <= set(conf)
