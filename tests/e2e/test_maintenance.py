"""`govmail maintenance announce` against the deployed host: a window closer than the profile's notice period
is refused and changes nothing; an announced one is silenced in Alertmanager and its notice reaches every
agency mailbox."""

import datetime as dt
import json
import re
import uuid

import pytest

from govmail.build import layout
from mailflow import govmail, messages, plain_text, wait_delivered

pytestmark = pytest.mark.e2e
ALERTMANAGER = f"http://127.0.0.1:{layout.MONITOR_PORTS['alertmanager']}"


def silences(monitor) -> dict[str, dict]:
    """Alertmanager's silences by id, read on the monitoring server (its API answers on loopback only)."""
    script = f"import urllib.request; print(urllib.request.urlopen('{ALERTMANAGER}/api/v2/silences').read().decode())"
    out = monitor.check_output(f"python3 -c {json.dumps(script)}")
    return {found["id"]: found for found in json.loads(out)}


def vietnam_day(days_ahead: int) -> str:
    return (dt.datetime.now(dt.timezone(dt.timedelta(hours=7))) + dt.timedelta(days=days_ahead)).strftime("%Y-%m-%d")


def test_a_window_too_close_is_refused_and_changes_nothing(env, monitor):
    rule = env.s.profile.operations.maintenance_notice
    if rule.value is None:
        pytest.skip(f"{env.s.province} sets no notice period for maintenance")
    before = silences(monitor)
    refused = govmail("maintenance", "announce", "--at", f"{vietnam_day(1)} 22:00", "--duration", "2 hours",
                      "--what", "Nâng cấp thử", check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert rule.source in refused.stderr and "earliest window" in refused.stderr
    assert silences(monitor) == before


def test_an_announced_window_is_silenced_and_every_agency_hears_of_it(env, monitor):
    tag = uuid.uuid4().hex[:6]
    agency = govmail("account", "add", "--kind", "agency", "--name", f"Sở Bảo trì {tag}", "--abbrev",
                     f"sbt{tag}", "--request", f"MT-{tag}").stdout.split("\t")[0]
    at = f"{vietnam_day(14)} 22:00"          # a fortnight ahead: past every profile's notice, Tết included
    done = govmail("maintenance", "announce", "--at", at, "--duration", "2 hours", "--what", "Nâng cấp máy chủ")
    silence_id = re.search(r"Alertmanager silence (\S+)\)", done.stdout).group(1)
    try:
        found = silences(monitor)[silence_id]
        assert found["status"]["state"] == "pending"
        starts = dt.datetime.fromisoformat(vietnam_day(14) + "T22:00:00+07:00")
        assert dt.datetime.fromisoformat(found["startsAt"]) == starts
        assert dt.datetime.fromisoformat(found["endsAt"]) == starts + dt.timedelta(hours=2)
        assert found["matchers"] == [{"name": "alertname", "value": ".+", "isRegex": True, "isEqual": True}]
        assert f"notice sent to {agency}" in done.stdout
        assert wait_delivered(env, agency, 1) == 1
        notice = messages(env, agency)[0]
        assert str(notice["Subject"]).startswith("Thông báo bảo trì hệ thống thư điện tử công vụ")
        day = dt.date.fromisoformat(vietnam_day(14))
        assert f"từ 22:00 ngày {day:%d/%m/%Y} đến 00:00 ngày" in plain_text(notice)
    finally:
        monitor.check_output(f"amtool silence expire {silence_id} --alertmanager.url={ALERTMANAGER}")
