"""`satisfaction_ratings` (deploy/clickhouse/0002): one row per rating."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.envelope import CloudEvent
from schemas.satisfaction import SatisfactionRated
from services.metrics.domain.rows.envelope import when
from services.metrics.domain.rows.values import unsigned


class SatisfactionRow(NamedTuple):
    """One row of `satisfaction_ratings`; the field names are the column names."""

    source: str
    id: str
    rating: str
    agency: str
    time: datetime
    day: date
    dossier: str
    procedure: str
    channel: str
    score: int


def satisfaction_row(event: CloudEvent) -> SatisfactionRow:
    assert isinstance(event, SatisfactionRated)
    d = event.data
    time, day = when(event)
    return SatisfactionRow(
        source=event.source,
        id=event.id,
        rating=event.subject,
        agency=event.agencycode,
        time=time,
        day=day,
        dossier=d.dossier_code or "",
        procedure=d.procedure_code or "",
        channel=d.channel.value,
        score=unsigned(d.score, 8, "data.score"),
    )
