"""`capa_events` (deploy/clickhouse/0002): the CAPA service's own events."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.capa import (
    CapaActionsPlanned,
    CapaEffectivenessMeasured,
    CapaEffectivenessVerified,
    CapaOpened,
    CapaRecurrenceFlagged,
    CapaRootCauseRecorded,
)
from schemas.envelope import CloudEvent
from services.metrics.domain.rows.envelope import payload, when
from services.metrics.domain.rows.values import stored_date, unsigned


class CapaRow(NamedTuple):
    """One row of `capa_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    capa: str
    agency: str
    time: datetime
    day: date
    sequence: int
    actor_role: str
    nc_source: str
    process: str
    procedure: str
    severity: str
    classification: str
    correction_due_on: date | None
    closure_due_on: date | None
    result: str
    root_cause_category: str
    earlier_capa_id: str
    actions: int


def capa_row(event: CloudEvent) -> CapaRow:
    data = payload(event)
    # Every CAPA event names the agency of its nonconformity; `opened` carries it in data.
    agency = event.agencycode
    nc_source = process = procedure = severity = classification = ""
    correction_due: date | None = None
    closure_due: date | None = None
    result = root_cause = earlier = ""
    actions = 0
    if isinstance(event, CapaOpened):
        d = event.data
        agency, nc_source, process = d.agency, d.source.value, d.process
        procedure, severity = d.procedure_code or "", d.severity.value
        classification = d.classification.value if d.classification else ""
        correction_due = stored_date(d.correction_due_on, "data.correction_due_on")
        closure_due = stored_date(d.closure_due_on, "data.closure_due_on")
    elif isinstance(event, CapaEffectivenessVerified):
        result = event.data.result.value
    elif isinstance(event, CapaEffectivenessMeasured):
        result = event.data.verdict.value  # beside the verdict's: effective_by_measurement...
    elif isinstance(event, CapaRootCauseRecorded):
        root_cause = event.data.category.value
    elif isinstance(event, CapaRecurrenceFlagged):
        earlier, root_cause = event.data.earlier_capa_id, event.data.root_cause_category.value
    elif isinstance(event, CapaActionsPlanned):
        actions = unsigned(len(event.data.actions), 16, "data.actions")
    time, day = when(event)
    return CapaRow(
        source=event.source,
        id=event.id,
        type=event.type,
        capa=event.subject,
        agency=agency,
        time=time,
        day=day,
        sequence=unsigned(data.sequence, 32, "data.sequence"),
        actor_role=data.actor_role,
        nc_source=nc_source,
        process=process,
        procedure=procedure,
        severity=severity,
        classification=classification,
        correction_due_on=correction_due,
        closure_due_on=closure_due,
        result=result,
        root_cause_category=root_cause,
        earlier_capa_id=earlier,
        actions=actions,
    )
