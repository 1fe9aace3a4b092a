"""`dossier_events` (deploy/clickhouse/0002): one row per dossier event."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.dossier import (
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierSupplementReceived,
)
from schemas.envelope import CloudEvent
from services.metrics.domain.rows.envelope import payload, when
from services.metrics.domain.rows.values import unsigned, utc


class DossierRow(NamedTuple):
    """One row of `dossier_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    dossier: str
    agency: str
    procedure: str
    time: datetime
    day: date
    channel: str
    online_level: int
    due_at: datetime | None
    received_at: datetime | None
    outcome: str
    procedure_version: int | None  # the register's version it was received under (0013)


def dossier_row(event: CloudEvent) -> DossierRow:
    data = payload(event)
    due_at: datetime | None = None
    due_field = "data.due_at"
    received_at: datetime | None = None
    channel, online_level, outcome = "", 0, ""
    procedure_version: int | None = None
    if isinstance(event, DossierReceived):
        due_at, channel = event.data.due_at, event.data.channel.value
        online_level = unsigned(event.data.online_level or 0, 8, "data.online_level")
        if event.data.procedure_version is not None:
            procedure_version = unsigned(event.data.procedure_version, 32, "data.procedure_version")
    elif isinstance(event, DossierResolved):
        due_at, received_at = event.data.due_at, event.data.received_at
        outcome = event.data.outcome.value
    elif isinstance(event, DossierSupplementReceived | DossierApologyIssued):
        due_at, due_field = event.data.new_due_at, "data.new_due_at"
    elif hasattr(data, "channel"):
        channel = data.channel.value
    time, day = when(event)
    return DossierRow(
        source=event.source,
        id=event.id,
        type=event.type,
        dossier=event.subject,
        agency=event.agencycode,
        procedure=data.procedure_code,
        time=time,
        day=day,
        channel=channel,
        online_level=online_level,
        due_at=utc(due_at, due_field) if due_at else None,
        received_at=utc(received_at, "data.received_at") if received_at else None,
        outcome=outcome,
        procedure_version=procedure_version,
    )
