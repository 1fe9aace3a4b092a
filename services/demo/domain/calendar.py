"""Office time in the province: working days, office hours, Asia/Ho_Chi_Minh (+07:00).

Every generated event happens on a working day between 07:30 and 17:00 local time, so a
day or month bucket is the same in +07:00 and in UTC. Instants are counted in "office
minutes" (570 a day), which makes "somewhere between these two events" a plain integer
draw and keeps each aggregate's events strictly ordered.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date, datetime, time, timedelta, timezone

from services.common.working_days import WorkingCalendar as OfficialCalendar
from services.common.working_days import vietnam_calendar

# Viet Nam keeps +07:00 all year (no daylight saving), so a fixed offset is exact.
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
OFFICE_OPENS = time(7, 30)
OFFICE_CLOSES = time(17, 0)
MINUTES_PER_DAY = 570  # 07:30 to 17:00


def month_start(moment: datetime) -> datetime:
    """Midnight (+07:00) of the first day of the month that contains `moment`."""
    local = moment.astimezone(VN_TZ)
    return datetime(local.year, local.month, 1, tzinfo=VN_TZ)


def add_months(moment: datetime, months: int) -> datetime:
    """The first-of-month `months` after (or before, when negative) a first-of-month."""
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=VN_TZ)


def local_day(moment: datetime) -> date:
    """The day of `moment` in provincial time."""
    return moment.astimezone(VN_TZ).date()


def month_key(moment: datetime) -> str:
    """'YYYY-MM' of `moment` in provincial time."""
    local = moment.astimezone(VN_TZ)
    return f"{local.year:04d}-{local.month:02d}"


class WorkingCalendar:
    """The province's working days from a first day on, indexed 0, 1, 2, ...

    The days of the platform's calendar (services/common/working_days.py, deploy/calendar/):
    the province keeps the government's holidays and swapped days, so its officers work on
    a Saturday worked in exchange and not over Tết, and the due times its software publishes
    are the statutory ones. A year the calendar has no file for falls back to Monday to
    Friday (the metrics service judges no statutory due time there either).
    """

    def __init__(self, first_day: date, official: OfficialCalendar | None = None) -> None:
        self._days: list[date] = []
        self._index: dict[date, int] = {}
        self._next = first_day
        self._official = official or vietnam_calendar()

    def _is_working(self, day: date) -> bool:
        if self._official.covers(day):
            return self._official.is_working_day(day)
        return day.weekday() < 5

    def day(self, index: int) -> date:
        """The working day with this index (the calendar grows as far as asked)."""
        while len(self._days) <= index:
            if self._is_working(self._next):
                self._index[self._next] = len(self._days)
                self._days.append(self._next)
            self._next += timedelta(days=1)
        return self._days[index]

    def first_index_on_or_after(self, day: date) -> int:
        """Index of the first working day on or after `day`."""
        while not self._days or self._days[-1] < day:
            self.day(len(self._days))
        return bisect_left(self._days, day)

    def instant(self, office_minute: int) -> datetime:
        """The datetime of an office minute (day index * 570 + minute of the office day)."""
        index, minute = divmod(office_minute, MINUTES_PER_DAY)
        opens = datetime.combine(self.day(index), OFFICE_OPENS, tzinfo=VN_TZ)
        return opens + timedelta(minutes=minute)

    def closing_time(self, day_index: int) -> datetime:
        """17:00 on a working day: statutory due times fall at the end of a working day."""
        return datetime.combine(self.day(day_index), OFFICE_CLOSES, tzinfo=VN_TZ)
