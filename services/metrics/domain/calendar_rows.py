"""`working_calendar` (deploy/clickhouse/0015): the calendar's working days as rows for SQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from services.common.working_days import WorkingCalendar

# Added to the running count after a year without a calendar file: more than any statutory
# time (schemas.procedure: at most 365 working days), so a span that would cross the hole
# finds no day and stays unknown instead of being miscounted.
HOLE_JUMP = 1000


class CalendarRow(NamedTuple):
    """One row of `working_calendar`; the field names are the column names."""

    day: date
    working: int
    worked_through: int


def calendar_rows(calendar: WorkingCalendar) -> list[CalendarRow]:
    """Every day of every year the calendar covers, with the working days from the first
    covered day through it (the same running total on every load: rows are idempotent)."""
    rows: list[CalendarRow] = []
    worked, previous = 0, None
    for year in calendar.years:
        if previous is not None and year != previous + 1:
            worked += HOLE_JUMP
        previous = year
        day = date(year, 1, 1)
        while day.year == year:
            working = calendar.is_working_day(day)
            worked += working
            rows.append(CalendarRow(day, int(working), worked))
            day += timedelta(1)
    return rows
