"""`dossier_events` (deploy/clickhouse/0002): one row per dossier event."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from schemas.dossier import (
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierStepTransferred,
    DossierSupplementReceived,
)
from schemas.envelope import CloudEvent
from services.metrics.domain.rows.envelope import payload, when
from services.metrics.domain.rows.values import finite, unsigned, utc


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
    procedure_version: int | None  # the register's version it was received under (0015)
    # The process control sheet (0013): a step transfer's step, units and due time; the
    # officer of any dossier event that names one.
    step: int
    from_unit: str
    to_unit: str
    officer: str
    step_due_at: datetime | None
    allotted_working_hours: float | None
    to_unit_received_at: datetime | None


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
    sheet = _sheet_columns(event)
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
        officer=getattr(data, "officer_id", None) or "",
        **sheet,
        procedure_version=procedure_version,
    )


def _sheet_columns(event: CloudEvent) -> dict[str, Any]:
    """The step columns of a step transfer; neutral values for any other dossier event."""
    if not isinstance(event, DossierStepTransferred):
        return {
            "step": 0, "from_unit": "", "to_unit": "", "step_due_at": None,
            "allotted_working_hours": None, "to_unit_received_at": None,
        }  # fmt: skip
    data = event.data
    allotted = data.allotted_working_hours
    return {
        "step": unsigned(data.step, 8, "data.step"),
        "from_unit": data.from_unit,
        "to_unit": data.to_unit,
        "step_due_at": utc(data.step_due_at, "data.step_due_at") if data.step_due_at else None,
        "allotted_working_hours": None
        if allotted is None
        else finite(allotted, "data.allotted_working_hours"),
        "to_unit_received_at": utc(data.to_unit_received_at, "data.to_unit_received_at")
        if data.to_unit_received_at
        else None,
    }
