"""Planned maintenance: a window closer than the profile's notice period is refused, naming the article and
the earliest start (Hà Nam 27/2023 Điều 10.5: 2 working days, on Vietnam's calendar); the notice cites it."""

import datetime as dt

import pytest

from govmail.accounts import maintenance
from govmail.errors import BadInput
from govmail.model import settings

MONDAY = dt.datetime(2026, 11, 30, 10, 0, tzinfo=maintenance.VIETNAM)
FRIDAY = dt.datetime(2026, 12, 4, 16, 0, tzinfo=maintenance.VIETNAM)


def test_hanam_needs_two_working_days():
    s = settings.load("hanam")
    with pytest.raises(BadInput, match=r"27/2023/QĐ-UBND Điều 10\.5.*2 ngày làm việc.*starts on 2026-12-02"):
        maintenance.plan(s, "2026-12-01 22:00", "2 hours", "Nâng cấp", now=MONDAY)
    window = maintenance.plan(s, "2026-12-02 22:00", "2 hours", "Nâng cấp", now=MONDAY)
    assert window.end - window.start == dt.timedelta(hours=2)


def test_the_weekend_does_not_count():
    s = settings.load("hanam")
    with pytest.raises(BadInput, match="starts on 2026-12-08"):          # Friday -> Monday, Tuesday
        maintenance.plan(s, "2026-12-07 22:00", "1 hour", "Nâng cấp", now=FRIDAY)
    maintenance.plan(s, "2026-12-08 06:00", "1 hour", "Nâng cấp", now=FRIDAY)


def test_a_province_without_a_rule_only_needs_the_future():
    s = settings.load("danang")          # 3712/QĐ-UBND sets no notice period
    maintenance.plan(s, "2026-11-30 10:30", "30 minutes", "Khởi động lại", now=MONDAY)
    with pytest.raises(BadInput, match="not in the future"):
        maintenance.plan(s, "2026-11-30 09:00", "30 minutes", "Khởi động lại", now=MONDAY)


@pytest.mark.parametrize("at, duration, named", [
    ("02/12/2026 22:00", "2 hours", "--at"),
    ("2026-12-09 22:00", "2 working days", "--duration"),
    ("2026-12-09 22:00", "1 minute", "--duration"),
    ("2026-12-09 22:00", "1 week", "--duration"),
])
def test_bad_times_are_refused_by_name(at, duration, named):
    with pytest.raises(BadInput, match=named):
        maintenance.plan(settings.load("hanam"), at, duration, "Nâng cấp", now=MONDAY)


def test_the_notice_gives_the_window_and_cites_the_article():
    s = settings.load("hanam")
    window = maintenance.plan(s, "2026-12-02 22:00", "2 hours", "Nâng cấp máy chủ", now=MONDAY)
    subject, body = maintenance.notice(s, window, "Sở Tài chính")
    assert subject.endswith("ngày 02/12/2026")
    assert "từ 22:00 ngày 02/12/2026 đến 00:00 ngày 03/12/2026" in body
    assert "trước ít nhất 2 ngày làm việc theo 27/2023/QĐ-UBND Điều 10.5" in body
    assert body.startswith("Kính gửi: Sở Tài chính")
