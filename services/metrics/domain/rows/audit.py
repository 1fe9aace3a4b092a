"""`audit_events` (deploy/clickhouse/0002): one row per audit or inspection event."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.audit import AuditClosed, AuditConducted, AuditFindingRecorded, AuditPlanned
from schemas.envelope import CloudEvent
from services.metrics.domain.rows.envelope import payload, when
from services.metrics.domain.rows.values import stored_date, unsigned


class AuditRow(NamedTuple):
    """One row of `audit_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    audit: str
    agency: str
    time: datetime
    day: date
    kind: str
    audited_agency: str
    on_site: int | None
    planned_on: date | None
    finding_id: str
    classification: str
    iso_clause: str
    process: str
    procedure: str
    findings: int | None


def audit_row(event: CloudEvent) -> AuditRow:
    data = payload(event)
    on_site: int | None = None
    planned_on: date | None = None
    finding_id = classification = iso_clause = process = procedure = ""
    findings: int | None = None
    if isinstance(event, AuditPlanned):
        on_site = int(event.data.on_site)
        planned_on = stored_date(event.data.planned_on, "data.planned_on")
    elif isinstance(event, AuditConducted):
        on_site = int(event.data.on_site)
    elif isinstance(event, AuditFindingRecorded):
        d = event.data
        finding_id, classification, iso_clause = d.finding_id, d.classification.value, d.iso_clause
        process, procedure = d.process, d.procedure_code or ""
    elif isinstance(event, AuditClosed):
        findings = unsigned(event.data.findings, 32, "data.findings")
    time, day = when(event)
    return AuditRow(
        source=event.source,
        id=event.id,
        type=event.type,
        audit=event.subject,
        agency=event.agencycode,
        time=time,
        day=day,
        kind=data.kind.value,
        audited_agency=data.audited_agency,
        on_site=on_site,
        planned_on=planned_on,
        finding_id=finding_id,
        classification=classification,
        iso_clause=iso_clause,
        process=process,
        procedure=procedure,
        findings=findings,
    )
