import pytest

from govmail.model.units import parse_duration, parse_size


def test_sizes_are_binary_units():
    assert parse_size("20MB").bytes == 20 * 1024 * 1024
    assert parse_size("5GB").bytes == 5 * 1024 ** 3


def test_size_bounds_and_unlimited():
    assert parse_size("at least 2GB").bound == "at_least"
    assert parse_size("at most 10GB").bound == "at_most"
    assert parse_size("unlimited").unlimited


@pytest.mark.parametrize("bound, candidate, allowed", [
    ("at least 2GB", "5GB", True), ("at least 2GB", "1GB", False), ("at least 2GB", "unlimited", True),
    ("at most 5GB", "4GB", True), ("at most 5GB", "6GB", False), ("at most 5GB", "unlimited", False),
    ("2GB", "2GB", True), ("2GB", "3GB", False),
])
def test_bound_allows(bound, candidate, allowed):
    assert parse_size(bound).allows(parse_size(candidate)) is allowed


@pytest.mark.parametrize("bad", ["20 MO", "twenty MB", "at about 2GB", ""])
def test_bad_size_is_refused(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_durations():
    assert parse_duration("3 months").seconds == 3 * 30 * 86400
    assert parse_duration("8 hours").seconds == 8 * 3600
    assert parse_duration("1 working day").unit == "working_days"
    assert str(parse_duration("15 working days")) == "15 working days"


def test_working_days_have_no_seconds():
    with pytest.raises(ValueError):
        parse_duration("3 working days").seconds


@pytest.mark.parametrize("bad", ["3 monts", "three months", "3", "months 3"])
def test_bad_duration_is_refused(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_calendar_months_and_working_days_after_a_moment():
    import datetime as dt
    start = dt.datetime(2026, 1, 31, 9, 0, tzinfo=dt.timezone.utc)
    assert parse_duration("1 month").after(start) == dt.datetime(2026, 2, 28, 9, 0, tzinfo=dt.timezone.utc)
    assert parse_duration("3 months").after(start) == dt.datetime(2026, 4, 30, 9, 0, tzinfo=dt.timezone.utc)
    # Friday 13 February 2026 is the last working day before Tết (16-20 February off): 3 working days later
    # is Wednesday 25 February.
    friday = dt.datetime(2026, 2, 13, 15, 0, tzinfo=dt.timezone.utc)
    assert parse_duration("3 working days").after(friday) == dt.datetime(2026, 2, 25, 15, 0, tzinfo=dt.timezone.utc)
    assert parse_duration("8 hours").after(friday) == dt.datetime(2026, 2, 13, 23, 0, tzinfo=dt.timezone.utc)
