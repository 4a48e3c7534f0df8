"""Sizes and durations as the regulations write them ("20MB", "at most 5GB", "3 working days").

Vietnamese regulations write MB/GB the way Windows and mail clients label sizes, which are binary:
govmail reads "20MB" as 20 MiB, so a file a user sees as "20 MB" is within the limit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

from govmail.model import workdays
from typing import Literal

UNIT_BYTES = {"KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40,
              "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}

_SIZE = re.compile(r"^(?:(?P<bound>at most|at least)\s+)?(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]+)$")

Bound = Literal["exact", "at_most", "at_least"]


@dataclass(frozen=True)
class Size:
    """A size in bytes, or unlimited (bytes is None), with the regulation's bound on it."""

    bytes: int | None
    bound: Bound = "exact"
    text: str = ""

    @property
    def unlimited(self) -> bool:
        return self.bytes is None

    def allows(self, candidate: "Size") -> bool:
        """Whether a deployment value `candidate` respects this regulation value."""
        if self.bound == "exact":
            return candidate.bytes == self.bytes
        if self.bound == "at_least":
            return candidate.unlimited or (candidate.bytes >= self.bytes)
        return (not candidate.unlimited) and (self.unlimited or candidate.bytes <= self.bytes)


def parse_size(text: str | int) -> Size:
    if isinstance(text, int):
        return Size(text, "exact", str(text))
    raw = str(text).strip()
    if raw.lower() == "unlimited":
        return Size(None, "exact", raw)
    m = _SIZE.match(raw)
    if not m:
        raise ValueError(f"'{raw}' is not a size: write e.g. 20MB, 2GB, 'at least 2GB', 'at most 5GB' or unlimited")
    unit = m["unit"].upper()
    if unit not in UNIT_BYTES:
        raise ValueError(f"'{raw}': unknown size unit '{m['unit']}' (use KB, MB, GB, TB)")
    bound: Bound = {"at most": "at_most", "at least": "at_least", None: "exact"}[m["bound"]]
    return Size(int(float(m["num"]) * UNIT_BYTES[unit]), bound, raw)


DurationUnit = Literal["seconds", "minutes", "hours", "days", "working_days", "months", "years"]

_UNIT_WORDS: dict[str, DurationUnit] = {
    "second": "seconds", "seconds": "seconds",
    "minute": "minutes", "minutes": "minutes",
    "hour": "hours", "hours": "hours",
    "day": "days", "days": "days",
    "working day": "working_days", "working days": "working_days",
    "month": "months", "months": "months",
    "year": "years", "years": "years",
}
_DURATION = re.compile(r"^(?P<num>\d+)\s+(?P<unit>[a-z ]+?)$")

# ppolicy counts seconds only; govmail counts a regulation "month" as 30 days there. Date-based rules
# (the sweep, reports) use calendar months instead.
VIETNAMESE_UNITS = {"seconds": "giây", "minutes": "phút", "hours": "giờ", "days": "ngày",
                    "working_days": "ngày làm việc", "months": "tháng", "years": "năm"}
SECONDS_PER = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "months": 30 * 86400, "years": 365 * 86400}


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        word = self.unit.replace("_", " ")
        return f"{self.amount} {word[:-1] if self.amount == 1 else word}"

    @property
    def vietnamese(self) -> str:
        """As the regulations write it: "8 giờ", "2 ngày làm việc"."""
        return f"{self.amount} {VIETNAMESE_UNITS[self.unit]}"

    @property
    def seconds(self) -> int:
        """Length in seconds for ppolicy; working days have no fixed length and are refused."""
        if self.unit == "working_days":
            raise ValueError(f"{self} has no fixed length in seconds: count it on the calendar")
        return self.amount * SECONDS_PER[self.unit]

    def after(self, start: dt.datetime) -> dt.datetime:
        """The moment this long after `start`: calendar months and years, Vietnamese working days."""
        if self.unit == "working_days":
            day = workdays.add_working_days(start.date(), self.amount)
            return dt.datetime.combine(day, start.timetz())
        if self.unit in ("months", "years"):
            return start + relativedelta(**{self.unit: self.amount})
        return start + dt.timedelta(seconds=self.seconds)


def parse_duration(text: str) -> Duration:
    raw = str(text).strip().lower()
    m = _DURATION.match(raw)
    if not m or m["unit"] not in _UNIT_WORDS:
        raise ValueError(f"'{text}' is not a duration: write e.g. '3 months', '15 working days', '8 hours'")
    return Duration(int(m["num"]), _UNIT_WORDS[m["unit"]])
