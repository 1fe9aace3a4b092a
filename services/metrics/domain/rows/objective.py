"""`objective_events` (deploy/clickhouse/0002): quality objectives set and evaluated."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from schemas.envelope import CloudEvent
from schemas.objective import QualityObjectiveEvaluated, QualityObjectiveSet
from services.metrics.domain.rows.envelope import payload, when
from services.metrics.domain.rows.values import finite


class ObjectiveRow(NamedTuple):
    """One row of `objective_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    objective: str
    agency: str
    time: datetime
    day: date
    indicator: str
    target: float
    comparison: str
    period: str
    actual: float | None
    met: int | None


def objective_row(event: CloudEvent) -> ObjectiveRow:
    actual: float | None = None
    met: int | None = None
    comparison = ""
    if isinstance(event, QualityObjectiveSet):
        d: Any = event.data
        comparison = event.data.comparison.value
    elif isinstance(event, QualityObjectiveEvaluated):
        d = event.data
        actual, met = finite(event.data.actual, "data.actual"), int(event.data.met)
    else:  # a future objective event: keep the envelope only
        d = payload(event)
    time, day = when(event)
    return ObjectiveRow(
        source=event.source,
        id=event.id,
        type=event.type,
        objective=event.subject,
        agency=event.agencycode,
        time=time,
        day=day,
        indicator=str(getattr(d, "indicator", "")),
        target=finite(float(getattr(d, "target", 0.0)), "data.target"),
        comparison=comparison,
        period=str(getattr(d, "period", "")),
        actual=actual,
        met=met,
    )
