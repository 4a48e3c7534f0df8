import datetime as dt

from govmail.model.workdays import add_working_days, is_working_day, working_days_between

D = dt.date


def test_tet_2026_is_skipped():
    # Received Friday 13 Feb 2026; Tết holidays Mon 16 - Fri 20 Feb; 3 working days: 23, 24, 25 Feb.
    assert add_working_days(D(2026, 2, 13), 3) == D(2026, 2, 25)


def test_swapped_saturday_is_a_working_day():
    # 2025: Saturday 26 April worked in exchange for Friday 2 May off.
    assert is_working_day(D(2025, 4, 26))
    assert not is_working_day(D(2025, 5, 2))


def test_reunification_and_labour_day_2025():
    # Received Tue 29 Apr 2025; 30/4, 1/5, 2/5 off, weekend 3-4/5: 2 working days -> Mon 5, Tue 6 May.
    assert add_working_days(D(2025, 4, 29), 2) == D(2025, 5, 6)


def test_counting_between_dates():
    # Mon 2 Nov 2026 -> Fri 6 Nov 2026: Tue..Fri are 4 working days.
    assert working_days_between(D(2026, 11, 2), D(2026, 11, 6)) == 4
    assert working_days_between(D(2026, 11, 6), D(2026, 11, 2)) == 0
