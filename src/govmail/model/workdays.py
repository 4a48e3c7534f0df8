"""Working days on the Vietnamese calendar (Tết, Hùng Kings, 30/4, 1/5, 2/9 and swapped days).

The `holidays` package knows Vietnam's public holidays and the Saturdays the government turns into
working days when it moves a day off; govmail does not keep its own list.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")     # Vietnam's time: dates users read, deadlines


@lru_cache(maxsize=1)
def _calendar() -> holidays.HolidayBase:
    return holidays.country_holidays("VN")


def is_working_day(day: dt.date) -> bool:
    return _calendar().is_working_day(day)


def add_working_days(start: dt.date, count: int) -> dt.date:
    """The date by which something received on `start` is due, `count` working days later."""
    if count < 0:
        raise ValueError("count must be zero or more")
    return start if count == 0 else _calendar().get_nth_working_day(start, count)


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    if end <= start:
        return 0
    return _calendar().get_working_days_count(start + dt.timedelta(days=1), end)
