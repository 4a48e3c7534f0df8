"""Planned maintenance as the regulations ask (Hà Nam 27/2023 Điều 10.5: announced 2 working days ahead): a
window checked against the profile's notice period, a notice to every agency mailbox, and the alerts
silenced in Alertmanager for the window."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from govmail import reach
from govmail.accounts import directory
from govmail.build.layout import MONITOR_PORTS
from govmail.errors import BadInput
from govmail.model.settings import Settings
from govmail.model.units import parse_duration
from govmail.model.workdays import VIETNAM

SHORTEST, LONGEST = dt.timedelta(minutes=5), dt.timedelta(days=3)


@dataclass(frozen=True)
class Window:
    start: dt.datetime          # aware, Vietnam's time
    end: dt.datetime
    what: str

    def text(self) -> str:
        return (f"từ {self.start:%H:%M} ngày {self.start:%d/%m/%Y} "
                f"đến {self.end:%H:%M} ngày {self.end:%d/%m/%Y}")


def plan(s: Settings, at: str, duration: str, what: str, now: dt.datetime | None = None) -> Window:
    """The window, once it is far enough ahead for the profile's notice period; else BadInput naming the
    article and the earliest start it allows. Changes nothing."""
    try:
        start = dt.datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=VIETNAM)
    except ValueError:
        raise BadInput(f"--at {at!r}: give the start as YYYY-MM-DD HH:MM, Vietnam's time") from None
    try:
        length = dt.timedelta(seconds=parse_duration(duration).seconds)
    except ValueError as err:
        raise BadInput(f"--duration {duration!r}: {err}") from None
    if not SHORTEST <= length <= LONGEST:
        raise BadInput(f"--duration {duration!r}: a maintenance window lasts between 5 minutes and 3 days")
    now = (now or dt.datetime.now(VIETNAM)).astimezone(VIETNAM)
    if start <= now:
        raise BadInput(f"--at {at}: that is not in the future (now {now:%Y-%m-%d %H:%M})")
    earliest = earliest_start(s, now)
    if earliest and start < earliest:
        notice = s.profile.operations.maintenance_notice
        raise BadInput(f"--at {at}: {notice.source} asks for {notice.value.vietnamese} of notice "
                       f"({notice.value}): the earliest window announced now starts on {earliest:%Y-%m-%d}")
    return Window(start, start + length, what)


def earliest_start(s: Settings, now: dt.datetime) -> dt.datetime | None:
    """The first moment a window announced now may start (None: the profile sets no notice period). Working
    days are counted whole: announced on Monday, 2 working days' notice allows Wednesday."""
    notice = s.profile.operations.maintenance_notice.value
    if notice is None:
        return None
    if notice.unit == "working_days":
        return dt.datetime.combine(notice.after(now.replace(tzinfo=None)).date(), dt.time(), VIETNAM)
    return now + dt.timedelta(seconds=notice.seconds)


def notice(s: Settings, window: Window, agency_name: str) -> tuple[str, str]:
    """(subject, body) of the notice to one agency, in Vietnamese."""
    rule = s.profile.operations.maintenance_notice
    basis = (f"Thông báo này được gửi trước ít nhất {rule.value.vietnamese} theo {rule.source}.\n\n"
             if rule.value is not None else "")
    subject = f"Thông báo bảo trì hệ thống thư điện tử công vụ ngày {window.start:%d/%m/%Y}"
    body = (f"Kính gửi: {agency_name}\n\n"
            f"Hệ thống thư điện tử công vụ {s.domain} sẽ được bảo trì {window.text()}.\n"
            f"Nội dung: {window.what}.\n\n"
            "Trong thời gian này, việc gửi, nhận thư và đăng nhập có thể bị gián đoạn; thư gửi đến sẽ được "
            "chuyển khi hệ thống hoạt động trở lại.\n"
            f"{basis}Quản trị hệ thống thư điện tử công vụ\n")
    return subject, body


def silence(s: Settings, window: Window, operator: str) -> str:
    """Silence every alert in Alertmanager on the mail host for the window (its API, through SSH); returns
    the silence's id."""
    payload = {"matchers": [{"name": "alertname", "value": ".+", "isRegex": True, "isEqual": True}],
               "startsAt": window.start.isoformat(), "endsAt": window.end.isoformat(), "createdBy": operator,
               "comment": f"govmail maintenance announce: {window.what}"}
    target = directory.monitoring_target(s)
    tunnel = reach.Tunnel(target, MONITOR_PORTS["alertmanager"])
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{tunnel.port}/api/v2/silences", method="POST",
                                         data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as answer:
            return json.load(answer)["silenceID"]
    except (OSError, urllib.error.URLError, ValueError, KeyError) as err:
        raise reach.Unreachable(f"Alertmanager on {target.address} did not take the silence: {err}") from None
    finally:
        tunnel.close()
