"""`procedure_events` (deploy/clickhouse/0011): the procedure register, one row per event."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.envelope import CloudEvent
from schemas.procedure import ProcedureVersionData
from services.metrics.domain.rows.envelope import payload, when
from services.metrics.domain.rows.values import unsigned


class ProcedureRow(NamedTuple):
    """One row of `procedure_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    procedure: str
    agency: str
    time: datetime
    day: date
    version: int
    name: str
    statutory_working_days: int
    effective_from: date
    levels: list[str]
    legal_basis: str


def procedure_row(event: CloudEvent) -> ProcedureRow:
    data = payload(event)
    version, name, statutory, levels = 0, "", 0, []
    if isinstance(data, ProcedureVersionData):
        version = unsigned(data.version, 32, "data.version")
        name = data.name
        statutory = unsigned(data.statutory_working_days, 16, "data.statutory_working_days")
        levels = [level.value for level in data.levels]
    time, day = when(event)
    return ProcedureRow(
        source=event.source,
        id=event.id,
        type=event.type,
        procedure=data.procedure_code,
        agency=event.agencycode,
        time=time,
        day=day,
        version=version,
        name=name,
        statutory_working_days=statutory,
        effective_from=data.effective_from,
        levels=levels,
        legal_basis=data.legal_basis,
    )
