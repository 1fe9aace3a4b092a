"""Quality objectives: set per agency for the year, evaluated per period from what happened.

Evaluated periods are the calendar quarters lying wholly inside the window (the months,
when no quarter does). The actual value is measured on the dossiers and ratings the
generator produced, so a struggling agency misses its objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.objective import Indicator, QualityObjectiveEvaluated, QualityObjectiveSet
from services.demo.domain.calendar import add_months
from services.demo.domain.catalogue import PROCEDURES_BY_CODE, Agency, Level
from services.demo.domain.dossiers import DossierFacts
from services.demo.domain.world import DAY, ISO_SECRETARIAT, World

TARGETS = {
    Indicator.ON_TIME_RATE: 95.0,
    Indicator.ONLINE_SHARE: 50.0,
    Indicator.SATISFACTION_RATE: 90.0,
}


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # "2026-Q1" or "2026-03"
    start: datetime
    end: datetime  # exclusive


def periods_in(window_start: datetime, window_end: datetime) -> list[Period]:
    """Calendar quarters wholly inside the window, or its months when there is none."""
    quarters = []
    cursor = window_start
    while cursor < window_end:
        if cursor.month % 3 == 1 and add_months(cursor, 3) <= window_end:
            quarter = (cursor.month - 1) // 3 + 1
            quarters.append(Period(f"{cursor.year}-Q{quarter}", cursor, add_months(cursor, 3)))
        cursor = add_months(cursor, 1)
    if quarters:
        return quarters
    months = []
    cursor = window_start
    while cursor < window_end:
        months.append(Period(f"{cursor:%Y-%m}", cursor, add_months(cursor, 1)))
        cursor = add_months(cursor, 1)
    return months


def _indicators(agency: Agency) -> list[Indicator]:
    if agency.level is Level.COMMUNE:
        return [Indicator.ON_TIME_RATE]
    indicators = [Indicator.ON_TIME_RATE, Indicator.SATISFACTION_RATE]
    if any(PROCEDURES_BY_CODE[c].online_level >= 3 for c in agency.procedure_codes):
        indicators.append(Indicator.ONLINE_SHARE)
    return indicators


def _ratio(
    facts: Sequence[DossierFacts],
    in_period: Callable[[DossierFacts], bool],
    success: Callable[[DossierFacts], bool],
) -> float | None:
    selected = [f for f in facts if in_period(f)]
    if not selected:
        return None
    return round(100.0 * sum(1 for f in selected if success(f)) / len(selected), 2)


def _actual(
    indicator: Indicator, facts: Sequence[DossierFacts], low: int, high: int
) -> float | None:
    def within(minute: int | None) -> bool:
        return minute is not None and low <= minute < high

    if indicator is Indicator.ON_TIME_RATE:
        return _ratio(facts, lambda f: within(f.resolved_minute), lambda f: bool(f.on_time))
    if indicator is Indicator.ONLINE_SHARE:
        return _ratio(facts, lambda f: within(f.received_minute), lambda f: f.online)
    return _ratio(facts, lambda f: within(f.rating_minute), lambda f: bool(f.satisfied))


def set_and_evaluate(
    world: World, agency: Agency, facts: Sequence[DossierFacts], periods: Sequence[Period]
) -> None:
    """Emit the agency's objectives for each year concerned and their evaluations."""
    rng, cal = world.rng, world.calendar
    for indicator in _indicators(agency):
        for year in sorted({p.start.year for p in periods}):
            subject = f"obj-{agency.code}-{year}-{indicator.value}"
            target = TARGETS[indicator]
            year_start = min(p.start for p in periods if p.start.year == year)
            set_minute = cal.first_index_on_or_after(year_start.date()) * DAY + rng.randint(30, 120)
            world.emit(
                QualityObjectiveSet,
                source=ISO_SECRETARIAT,
                subject=subject,
                agency=agency.code,
                minute=set_minute,
                data={"indicator": indicator, "target": target, "period": str(year)},
            )
            for period in (p for p in periods if p.start.year == year):
                low = cal.first_index_on_or_after(period.start.date()) * DAY
                high_day = cal.first_index_on_or_after(period.end.date())
                actual = _actual(indicator, facts, low, high_day * DAY)
                if actual is None:
                    continue  # nothing to measure in this period
                world.emit(
                    QualityObjectiveEvaluated,
                    source=ISO_SECRETARIAT,
                    subject=subject,
                    agency=agency.code,
                    minute=(high_day + rng.randint(1, 3)) * DAY + rng.randint(0, DAY - 1),
                    data={
                        "indicator": indicator,
                        "target": target,
                        "actual": actual,
                        "met": actual >= target,
                        "period": period.label,
                    },
                )
