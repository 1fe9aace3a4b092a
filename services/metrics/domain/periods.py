"""Reporting periods: `YYYY`, `YYYY-Qn`, `YYYY-MM` and month ranges, as local calendar days.

Also the one home of the years the read API accepts: every month, period and instant a
caller sends is checked here, so nothing outside what the store's types hold (ClickHouse
`Date`: 1970-01-01 to 2149-06-06) ever reaches a query or a date computation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

# ASCII digits only, and \Z: `$` would also accept a trailing newline.
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")
_QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])\Z")
_YEAR = re.compile(r"^([0-9]{4})\Z")


# The first and the last year a month, period or instant may name.
FIRST_YEAR = 1970
LAST_YEAR = 2148
# The same years as a regular expression, for the OpenAPI document (a test keeps them equal).
YEAR_PATTERN = "(19[7-9][0-9]|20[0-9][0-9]|21[0-3][0-9]|214[0-8])"
MONTH_PATTERN = f"^{YEAR_PATTERN}-(0[1-9]|1[0-2])$"
PERIOD_PATTERN = f"^{YEAR_PATTERN}(-Q[1-4]|-0[1-9]|-1[0-2])?$"


class PeriodError(ValueError):
    """A period that cannot be read; the message names the parameter and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _check_year(year: int, field: str, text: object) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(
            field, f"{text} is outside the years {FIRST_YEAR}–{LAST_YEAR} the store holds"
        )


# RFC 3339 date-time: a time zone is required, and nothing else (no bare numbers).
_INSTANT = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)


def parse_instant(text: str, field: str) -> datetime:
    """An RFC 3339 instant (`2026-03-01T08:00:00+07:00`) in UTC, within the years held."""
    if not _INSTANT.match(text):
        raise PeriodError(field, f"expected an RFC 3339 date-time with a time zone, got {text!r}")
    try:
        # fromisoformat takes at most microseconds: cut longer fractions, they cannot count.
        at = datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text.upper()))
    except ValueError as exc:
        raise PeriodError(field, f"{text!r} is not a date and time of the calendar") from exc
    return utc_instant(at, field)


def utc_instant(at: datetime, field: str) -> datetime:
    """An RFC 3339 instant in UTC, refused without a time zone or outside the years held."""
    if at.tzinfo is None:
        raise PeriodError(field, "the instant needs a time zone")
    _check_year(at.year, field, at.isoformat())
    try:
        moment = at.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-07:00 is in year 10000 UTC
        raise PeriodError(field, f"{at.isoformat()} cannot be expressed in UTC") from exc
    _check_year(moment.year, field, at.isoformat())
    return moment


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
        raise PeriodError(field, f"expected a month as YYYY-MM, got {text!r}")
    _check_year(int(match[1]), field, text)
    return date(int(match[1]), int(match[2]), 1)


def month_range(start: str | None, end: str | None) -> DayRange:
    """Months `start` to `end`, both included (`from=2026-01&to=2026-03` is a quarter)."""
    first = month_start(start, "from") if start is not None else None
    last = month_start(end, "to") if end is not None else None
    if first and last and last < first:
        raise PeriodError("to", f"{end} is before from: {start}")
    return DayRange(first, _next_month(last.year, last.month) if last else None)


def period_range(period: str, field: str = "period") -> DayRange:
    """`2026`, `2026-Q2` or `2026-05` as a day range."""
    if match := _YEAR.match(period):
        year = int(match[1])
        _check_year(year, field, period)
        return DayRange(date(year, 1, 1), date(year + 1, 1, 1))
    if match := _QUARTER.match(period):
        year, quarter = int(match[1]), int(match[2])
        _check_year(year, field, period)
        first_month = 3 * (quarter - 1) + 1
        return DayRange(date(year, first_month, 1), _next_month(year, first_month + 2))
    if _MONTH.match(period):
        first = month_start(period, field)
        return DayRange(first, _next_month(first.year, first.month))
    raise PeriodError(field, f"expected YYYY, YYYY-Qn or YYYY-MM, got {period!r}")
