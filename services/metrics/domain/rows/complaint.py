"""`complaint_events` (deploy/clickhouse/0002): one row per complaint or feedback event."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.complaint import ComplaintFiled, ComplaintResolved
from schemas.envelope import CloudEvent
from services.metrics.domain.rows.envelope import when


class ComplaintRow(NamedTuple):
    """One row of `complaint_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    complaint: str
    agency: str
    time: datetime
    day: date
    kind: str
    channel: str
    category: str
    procedure: str
    dossier: str
    substantiated: int | None


def complaint_row(event: CloudEvent) -> ComplaintRow:
    kind = channel = category = procedure = dossier = ""
    substantiated: int | None = None
    if isinstance(event, ComplaintFiled):
        d = event.data
        kind, channel, category = d.kind.value, d.channel.value, d.category
        procedure, dossier = d.procedure_code or "", d.dossier_code or ""
    elif isinstance(event, ComplaintResolved):
        substantiated = int(event.data.substantiated)
        procedure = event.data.procedure_code or ""
    time, day = when(event)
    return ComplaintRow(
        source=event.source,
        id=event.id,
        type=event.type,
        complaint=event.subject,
        agency=event.agencycode,
        time=time,
        day=day,
        kind=kind,
        channel=channel,
        category=category,
        procedure=procedure,
        dossier=dossier,
        substantiated=substantiated,
    )
