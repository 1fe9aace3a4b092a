"""Reporting periods: `YYYY`, `YYYY-Qn`, `YYYY-MM` and month ranges, as local calendar days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period that cannot be read; the message names the parameter and why."""


@dataclass(frozen=True)
class DayRange:
    """Local calendar days `start <= day < end`; None bounds mean unbounded."""

    start: date | None = None
    end: date | None = None

    def contains(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day < self.end)


def _next_month(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def month_start(text: str, field: str) -> date:
    """First day of `YYYY-MM`."""
    match = _MONTH.match(text)
    if match is None:
        raise PeriodError(f"{field}: expected a month as YYYY-MM, got {text!r}")
    return date(int(match[1]), int(match[2]), 1)


def month_range(start: str | None, end: str | None) -> DayRange:
    """Months `start` to `end`, both included (`from=2026-01&to=2026-03` is a quarter)."""
    first = month_start(start, "from") if start else None
    last = month_start(end, "to") if end else None
    if first and last and last < first:
        raise PeriodError(f"to: {end} is before from: {start}")
    return DayRange(first, _next_month(last.year, last.month) if last else None)


def period_range(period: str) -> DayRange:
    """`2026`, `2026-Q2` or `2026-05` as a day range."""
    if match := _YEAR.match(period):
        year = int(match[1])
        return DayRange(date(year, 1, 1), date(year + 1, 1, 1))
    if match := _QUARTER.match(period):
        year, quarter = int(match[1]), int(match[2])
        first_month = 3 * (quarter - 1) + 1
        return DayRange(date(year, first_month, 1), _next_month(year, first_month + 2))
    if _MONTH.match(period):
        first = month_start(period, "period")
        return DayRange(first, _next_month(first.year, first.month))
    raise PeriodError(f"period: expected YYYY, YYYY-Qn or YYYY-MM, got {period!r}")
