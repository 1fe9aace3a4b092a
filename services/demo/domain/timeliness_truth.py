"""The ground truth of the timeliness of updates: a plain fold over events.

Written from docs/kpis.md ("Timeliness of updates"), independently of the metrics
service's SQL, so the two can be compared. Each `(source, id)` counts once, whatever the
order of delivery; an event counts when it has a recording time (the originating system's
`recordedtime`, else intake's `receivedtime`: `CloudEvent.recorded_at`), by its agency and
the local month of its `time`:

- its lag: the recording time minus `time`, in hours (a negative lag counts as 0);
- the median and 90th percentile of the lags: the value at rank `floor(q × n)` (from 0)
  of the sorted lags;
- late: recorded more than one working day after the local day it happened (the
  working-day calendar of services/common/working_days.py); an event whose two days are
  not both in a year the calendar covers is left out of the late share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from schemas.envelope import CloudEvent
from services.common.working_days import WorkingCalendar, vietnam_calendar
from services.demo.domain.calendar import local_day, month_key
from services.demo.domain.deliveries import once_each
from services.demo.domain.truth import Months

LATE_AFTER_WORKING_DAYS = 1  # "more than one working day late"

# Grouping keys of the figures: agency, month or both (in that order).
TimelinessGroup = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """One event as the timeliness figures see it."""

    agency: str
    month: str
    lag_hours: float
    working_days_late: int | None  # None: a day in a year without a calendar

    def key(self, group: TimelinessGroup) -> tuple[str, ...]:
        values = {"agency": self.agency, "month": self.month}
        return tuple(values[g] for g in group)


@dataclass
class TimelinessTruth:
    """Every recorded event's lag, and the figures of docs/kpis.md over them."""

    updates: list[Update] = field(default_factory=list)

    def counts(self, group: TimelinessGroup, months: Months = None) -> dict[tuple[str, ...], Any]:
        """updates, median_lag_hours, p90_lag_hours, late_updates, calendared_updates and
        late_update_share per group, over the events of `months` (inclusive)."""
        grouped: dict[tuple[str, ...], list[Update]] = defaultdict(list)
        for u in self.updates:
            if months is None or months[0] <= u.month <= months[1]:
                grouped[u.key(group)].append(u)
        return {key: _figures(updates) for key, updates in grouped.items()}

    def late_share(self) -> float | None:
        """The province's late share in percent (None: nothing could be judged)."""
        province = self.counts(()).get(())
        return None if province is None else province["late_update_share"]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The value at rank `floor(q × n)` (from 0) of the sorted values (n ≥ 1)."""
    return sorted_values[min(int(q * len(sorted_values)), len(sorted_values) - 1)]


def _figures(updates: Sequence[Update]) -> dict[str, Any]:
    lags = sorted(u.lag_hours for u in updates)
    judged = [u.working_days_late for u in updates if u.working_days_late is not None]
    late = sum(1 for days in judged if days > LATE_AFTER_WORKING_DAYS)
    return {
        "updates": len(updates),
        "median_lag_hours": quantile(lags, 0.5),
        "p90_lag_hours": quantile(lags, 0.9),
        "late_updates": late,
        "calendared_updates": len(judged),
        "late_update_share": 100.0 * late / len(judged) if judged else None,
    }


def _working_days_late(calendar: WorkingCalendar, happened: date, recorded: date) -> int | None:
    if not (calendar.covers(happened) and calendar.covers(recorded)):
        return None
    return calendar.working_days_between(happened, recorded)


def fold_update_timeliness(
    events: Iterable[CloudEvent], calendar: WorkingCalendar | None = None
) -> TimelinessTruth:
    """The lag of every event in `events` with a recording time (duplicates dropped)."""
    calendar = calendar or vietnam_calendar()
    truth = TimelinessTruth()
    for event in once_each(events):
        recorded = event.recorded_at
        if recorded is None:
            continue  # not recorded anywhere we know of: no lag to count
        lag = max(0.0, (recorded - event.time).total_seconds() / 3600)
        late = _working_days_late(calendar, local_day(event.time), local_day(recorded))
        truth.updates.append(Update(event.agencycode, month_key(event.time), lag, late))
    return truth
