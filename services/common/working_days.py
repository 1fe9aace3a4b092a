"""The working-day calendar of Vietnamese state agencies: statutory time runs in working days.

A day is a working day unless it is a Saturday or Sunday not worked in exchange for a
bridge day, or a weekday off (a public holiday, a day off in lieu, a swapped bridge day).
Those two lists come from one data file per year, `deploy/calendar/vn-<year>.yaml`, since
the lunar holidays and the government's swaps are set each year by notice: a new year is a
new file, no code. A day of a year without a file is refused (`YearNotCovered`) rather than
guessed, so a missing file never silently shifts a due date or a lateness.

The `holidays` package knows Vietnam's statutory holidays, but not every yearly swap, and it
requires python-dateutil < 3 where the services' lock holds 4: the files are the one source,
checked by hand against it and against the notices they cite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.common.shipped import shipped_file

CALENDAR_DIR = "calendar"
SATURDAY = 5


class YearNotCovered(LookupError):
    """No calendar file covers the year of the day asked about."""


class CalendarFileInvalid(ValueError):
    """A calendar file does not say what a year's calendar must (the message says where)."""


@dataclass(frozen=True, slots=True)
class YearCalendar:
    """One year's exceptions to "Monday to Friday": weekdays off and weekend days worked."""

    year: int
    weekdays_off: Mapping[date, str]
    weekend_days_worked: Mapping[date, str]

    def __post_init__(self) -> None:
        for day in self.weekdays_off:
            self._check(day, "weekdays_off", weekend=False)
        for day in self.weekend_days_worked:
            self._check(day, "weekend_days_worked", weekend=True)

    def _check(self, day: date, field: str, *, weekend: bool) -> None:
        if day.year != self.year:
            raise CalendarFileInvalid(f"{field}: {day} is not in {self.year}")
        if (day.weekday() >= SATURDAY) != weekend:
            kind = "a Saturday or Sunday" if weekend else "a weekday (Monday to Friday)"
            raise CalendarFileInvalid(f"{field}: {day} ({day:%A}) is not {kind}")


class WorkingCalendar:
    """Working days over the years it holds a `YearCalendar` for."""

    def __init__(self, years: Iterable[YearCalendar]) -> None:
        self._years: dict[int, YearCalendar] = {}
        for year in years:
            if year.year in self._years:
                raise CalendarFileInvalid(f"year: {year.year} is given twice")
            self._years[year.year] = year
        # Per year: working days from 1 January through each day of the year (built on first
        # use), so a span costs a lookup per year it crosses, not a check per day (ingestion
        # asks it for every event).
        self._worked_through: dict[int, tuple[int, tuple[int, ...]]] = {}

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(sorted(self._years))

    def covers(self, day: date) -> bool:
        return day.year in self._years

    def _year(self, day: date) -> YearCalendar:
        try:
            return self._years[day.year]
        except KeyError:
            held = ", ".join(map(str, self.years)) or "none"
            raise YearNotCovered(
                f"{day}: no working-day calendar for {day.year} (held: {held}); add "
                f"{CALENDAR_DIR}/vn-{day.year}.yaml"
            ) from None

    def is_working_day(self, day: date) -> bool:
        year = self._year(day)
        if day.weekday() >= SATURDAY:
            return day in year.weekend_days_worked
        return day not in year.weekdays_off

    def days_off(self, year: int) -> list[date]:
        """Every day of `year` that is not a working day, weekends included, in order."""
        first = date(year, 1, 1)
        days = (first + timedelta(n) for n in range((date(year + 1, 1, 1) - first).days))
        return [day for day in days if not self.is_working_day(day)]

    def add_working_days(self, start: date, n: int) -> date:
        """The `n`-th working day after `start` (before it when `n` < 0); `start` when 0.

        A statutory time of n working days from a dossier received on `start` ends on
        `add_working_days(start, n)`, whether or not `start` itself is a working day.
        """
        step = timedelta(1 if n >= 0 else -1)
        day, left = start, abs(n)
        while left:
            day += step
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days `d` with `start < d <= end` (negative when `end` is before `start`):
        how many working days later `end` is. Friday to Monday is 1, a day to itself 0."""
        if end <= start:
            return 0 if end == start else -self.working_days_between(end, start)
        low, high = start.toordinal() + 1, end.toordinal()
        total = 0
        for year in range(date.fromordinal(low).year, end.year + 1):
            first, counts = self._counts(year)
            lo, hi = max(low, first) - first, min(high, first + len(counts) - 1) - first
            total += counts[hi] - (counts[lo - 1] if lo else 0)
        return total

    def _counts(self, year: int) -> tuple[int, tuple[int, ...]]:
        """The ordinal of 1 January of `year`, and the working days from it through each day."""
        if year not in self._worked_through:
            first = date(year, 1, 1)
            self._year(first)  # YearNotCovered for a year without a calendar
            worked, counts = 0, []
            for n in range((date(year + 1, 1, 1) - first).days):
                worked += self.is_working_day(first + timedelta(n))
                counts.append(worked)
            self._worked_through[year] = (first.toordinal(), tuple(counts))
        return self._worked_through[year]


def year_from_document(document: Any, where: str) -> YearCalendar:
    """A `YearCalendar` from a parsed calendar file (`where` names it in errors)."""
    if not isinstance(document, dict) or not isinstance(document.get("year"), int):
        raise CalendarFileInvalid(f"{where}: year: an integer is required")

    def days(field: str) -> dict[date, str]:
        entries = document.get(field) or []
        if not isinstance(entries, list):
            raise CalendarFileInvalid(f"{where}: {field}: a list is required")
        found: dict[date, str] = {}
        for n, entry in enumerate(entries):
            day = entry.get("date") if isinstance(entry, dict) else None
            reason = entry.get("reason") if isinstance(entry, dict) else None
            if not isinstance(day, date) or not isinstance(reason, str) or not reason:
                raise CalendarFileInvalid(
                    f"{where}: {field}[{n}]: a date (YYYY-MM-DD) and a reason are required"
                )
            if day in found:
                raise CalendarFileInvalid(f"{where}: {field}[{n}]: {day} is listed twice")
            found[day] = reason
        return found

    weekdays_off, weekend_days_worked = days("weekdays_off"), days("weekend_days_worked")
    try:
        return YearCalendar(document["year"], weekdays_off, weekend_days_worked)
    except CalendarFileInvalid as exc:
        raise CalendarFileInvalid(f"{where}: {exc}") from exc


def calendar_from_dir(directory: Path) -> WorkingCalendar:
    """Every `vn-<year>.yaml` of `directory`; a file whose name and year differ is refused."""
    years = []
    for path in sorted(directory.glob("vn-*.yaml")):
        year = year_from_document(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
        if path.stem != f"vn-{year.year}":
            raise CalendarFileInvalid(f"{path.name}: year: {year.year} does not match the name")
        years.append(year)
    return WorkingCalendar(years)


@cache
def vietnam_calendar() -> WorkingCalendar:
    """The shipped calendar (deploy/calendar/), read once per process."""
    return calendar_from_dir(shipped_file(CALENDAR_DIR))
