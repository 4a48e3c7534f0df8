"""ClamAV and SpamAssassin, each behind its milter, from the shared templates. Nothing here needs the
internet: signatures come from govmail's own file or the operator's mirror, rules from the package."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server, systemd

from .common import any_changed, install, put_rendered, restart_if_changed

CLAMAV_PACKAGES = ["clamav-daemon", "clamav-milter", "clamav-freshclam", "clamdscan"]
SPAMASSASSIN_PACKAGES = ["spamd", "spamc", "spamass-milter"]
# The daily sa-update would try the internet; rules come from the package.
SA_UPDATE_TIMER = "spamassassin-maintenance.timer"


@deploy("ClamAV")
def clamav(files_content: dict[str, str], mirror: str | None):
    install("clamav", CLAMAV_PACKAGES,
            debconf="clamav-freshclam clamav-freshclam/autoupdate_freshclam select manual\n")
    changed = [put_rendered(files_content, p) for p in (
        "/etc/clamav/clamd.conf", "/etc/clamav/clamav-milter.conf", "/etc/clamav/freshclam.conf",
        "/etc/systemd/system/clamav-daemon.service.d/govmail.conf", "/etc/systemd/system/clamav-milter.service")]
    changed.append(put_rendered(files_content, "/var/lib/clamav/govmail.ndb", group="clamav"))
    restart_if_changed(["clamav-daemon", "clamav-milter"], changed, unit_files=True)
    # systemd reports clamd started even when it then fails on its configuration or signatures.
    server.shell(name="clamd answers after the restart", commands=["clamdscan --ping 30:1 >/dev/null"],
                 _if=any_changed(changed))
    systemd.service(name="freshclam runs only with a mirror", service="clamav-freshclam",
                    running=bool(mirror), enabled=bool(mirror))


@deploy("SpamAssassin")
def spamassassin(files_content: dict[str, str]):
    install("spamassassin", SPAMASSASSIN_PACKAGES)
    changed = [put_rendered(files_content, p) for p in (
        "/etc/spamassassin/local.cf", "/etc/default/spamd", "/etc/systemd/system/spamass-milter.service")]
    systemd.service(name="No rule updates from the internet", service=SA_UPDATE_TIMER, running=False,
                    enabled=False)
    restart_if_changed(["spamd", "spamass-milter"], changed, unit_files=True)
