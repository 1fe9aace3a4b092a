"""The working-day calendar: each shipped year against the official list of days off, and
the arithmetic statutory time and update lateness are counted with."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from services.common.working_days import (
    CalendarFileInvalid,
    WorkingCalendar,
    YearCalendar,
    YearNotCovered,
    calendar_from_dir,
    vietnam_calendar,
)

pytestmark = pytest.mark.unit


def weekdays_off(year: int) -> list[date]:
    return [d for d in vietnam_calendar().days_off(year) if d.weekday() < 5]


def weekend_days_worked(year: int) -> list[date]:
    first = date(year, 1, 1)
    days = (first + timedelta(n) for n in range((date(year + 1, 1, 1) - first).days))
    return [d for d in days if d.weekday() >= 5 and vietnam_calendar().is_working_day(d)]


def test_2025_days_off_are_the_official_list() -> None:
    # New Year; Tết 25 Jan–2 Feb (Monday 27 Jan in lieu of the 4th day, Saturday 1 Feb; no
    # day worked in exchange); Hùng Kings 7 Apr; 30 Apr–4 May (Friday 2 May swapped with
    # Saturday 26 Apr); National Day 1–2 Sep.
    assert weekdays_off(2025) == [
        date(2025, 1, 1),
        *(date(2025, 1, d) for d in range(27, 32)),
        date(2025, 4, 7),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 9, 1),
        date(2025, 9, 2),
    ]
    assert weekend_days_worked(2025) == [date(2025, 4, 26)]
    assert len(vietnam_calendar().days_off(2025)) == 104 + 12 - 1


def test_2026_days_off_are_the_official_list() -> None:
    # New Year 1–4 Jan (Friday 2 Jan swapped with Saturday 10 Jan); Tết 14–22 Feb; Hùng
    # Kings on Sunday 26 Apr, off in lieu Monday 27 Apr; 30 Apr–3 May; National Day 29 Aug–
    # 2 Sep (Monday 31 Aug swapped with Saturday 22 Aug); Vietnam Culture Day 24 Nov (from
    # 2026).
    assert weekdays_off(2026) == [
        date(2026, 1, 1),
        date(2026, 1, 2),
        *(date(2026, 2, d) for d in range(16, 21)),
        date(2026, 4, 27),
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 8, 31),
        date(2026, 9, 1),
        date(2026, 9, 2),
        date(2026, 11, 24),
    ]
    assert weekend_days_worked(2026) == [date(2026, 1, 10), date(2026, 8, 22)]


def test_every_shipped_year_has_a_test_above() -> None:
    assert vietnam_calendar().years == (2025, 2026)


def test_add_working_days_skips_tet_and_holidays_and_counts_the_swapped_saturday() -> None:
    calendar = vietnam_calendar()
    # Received Friday 24 Jan 2025: Tết is off, Monday 3 Feb is the first working day after.
    assert calendar.add_working_days(date(2025, 1, 24), 1) == date(2025, 2, 3)
    # Friday 25 Apr + 1 is Saturday 26 Apr, worked in exchange for Friday 2 May.
    assert calendar.add_working_days(date(2025, 4, 25), 1) == date(2025, 4, 26)
    assert calendar.add_working_days(date(2025, 4, 29), 1) == date(2025, 5, 5)
    assert calendar.add_working_days(date(2025, 2, 3), 0) == date(2025, 2, 3)
    assert calendar.add_working_days(date(2025, 2, 3), -1) == date(2025, 1, 24)
    # Counted from a Sunday: Monday is the first working day.
    assert calendar.add_working_days(date(2025, 3, 2), 1) == date(2025, 3, 3)


def test_working_days_between_is_how_many_working_days_later() -> None:
    calendar = vietnam_calendar()
    assert calendar.working_days_between(date(2025, 3, 7), date(2025, 3, 10)) == 1  # Fri→Mon
    assert calendar.working_days_between(date(2025, 3, 7), date(2025, 3, 11)) == 2
    assert calendar.working_days_between(date(2025, 3, 7), date(2025, 3, 7)) == 0
    assert calendar.working_days_between(date(2025, 1, 24), date(2025, 2, 3)) == 1  # over Tết
    assert calendar.working_days_between(date(2025, 3, 11), date(2025, 3, 7)) == -2
    # Across the turn of the year (both years shipped).
    assert calendar.working_days_between(date(2025, 12, 31), date(2026, 1, 5)) == 1


def test_add_and_between_agree() -> None:
    calendar = vietnam_calendar()
    start = date(2025, 1, 20)
    for n in range(0, 40):
        assert calendar.working_days_between(start, calendar.add_working_days(start, n)) == n


def test_a_year_without_a_file_is_refused_not_guessed() -> None:
    with pytest.raises(YearNotCovered, match=r"vn-2031\.yaml"):
        vietnam_calendar().is_working_day(date(2031, 5, 1))
    assert not vietnam_calendar().covers(date(2031, 5, 1))


def test_a_new_year_is_a_new_file(tmp_path: Path) -> None:
    (tmp_path / "vn-2031.yaml").write_text(
        "year: 2031\nweekdays_off:\n  - {date: 2031-05-01, reason: Labour Day}\n"
        "weekend_days_worked:\n  - {date: 2031-05-10, reason: swap}\n"
    )
    calendar = calendar_from_dir(tmp_path)
    assert not calendar.is_working_day(date(2031, 5, 1))
    assert calendar.is_working_day(date(2031, 5, 10))
    assert calendar.is_working_day(date(2031, 5, 2))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("year: 2031\nweekdays_off:\n  - {date: 2031-05-03, reason: x}\n", "is not a weekday"),
        ("year: 2031\nweekend_days_worked:\n  - {date: 2031-05-02, reason: x}\n", "Saturday"),
        ("year: 2031\nweekdays_off:\n  - {date: 2030-05-02, reason: x}\n", "is not in 2031"),
        ("year: 2031\nweekdays_off:\n  - {date: 2031-05-02}\n", "weekdays_off\\[0\\]"),
        ("year: 2030\n", "does not match the name"),
        ("weekdays_off: []\n", "year: an integer"),
    ],
)
def test_a_wrong_file_is_refused_naming_the_field(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "vn-2031.yaml").write_text(text)
    with pytest.raises(CalendarFileInvalid, match=reason):
        calendar_from_dir(tmp_path)


def test_a_year_given_twice_is_refused() -> None:
    year = YearCalendar(2031, {}, {})
    with pytest.raises(CalendarFileInvalid, match="twice"):
        WorkingCalendar([year, year])
