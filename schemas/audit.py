"""Internal audits, external audits and inspections (kiểm tra) with their findings.

The subject of every audit event is the audit id.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.base import (
    AgencyCode,
    Contract,
    Count,
    Day,
    IsoClause,
    ProcedureCode,
    PseudonymousId,
    ShortText,
    StrictBool,
    Text,
)
from schemas.envelope import CloudEvent


class AuditKind(StrEnum):
    INTERNAL_AUDIT = "internal_audit"
    EXTERNAL_AUDIT = "external_audit"
    INSPECTION = "inspection"


class FindingClassification(StrEnum):
    MAJOR = "major"
    MINOR = "minor"
    OBSERVATION = "observation"
    IMPROVEMENT = "improvement"


class AuditPlannedData(Contract):
    kind: AuditKind
    audited_agency: AgencyCode
    planned_on: Day
    on_site: StrictBool = Field(description="True for an on-site audit or inspection.")
    scope: Text
    lead_auditor_id: PseudonymousId


class AuditConductedData(Contract):
    kind: AuditKind
    audited_agency: AgencyCode
    on_site: StrictBool
    auditor_ids: list[PseudonymousId] = Field(min_length=1, max_length=20)


class AuditFindingRecordedData(Contract):
    finding_id: str = Field(min_length=1, max_length=64)
    kind: AuditKind
    audited_agency: AgencyCode
    classification: FindingClassification
    iso_clause: IsoClause
    process: ShortText = Field(description="Process or procedure concerned.")
    procedure_code: ProcedureCode | None = None
    description: Text
    auditor_id: PseudonymousId


class AuditClosedData(Contract):
    kind: AuditKind
    audited_agency: AgencyCode
    findings: Count


class AuditPlanned(CloudEvent):
    """An audit or inspection was put on the programme."""

    type: Literal["vn.qms.audit.planned.v1"]
    data: AuditPlannedData


class AuditConducted(CloudEvent):
    """An audit or inspection took place."""

    type: Literal["vn.qms.audit.conducted.v1"]
    data: AuditConductedData


class AuditFindingRecorded(CloudEvent):
    """An auditor recorded a finding against an ISO 9001 clause."""

    type: Literal["vn.qms.audit.finding_recorded.v1"]
    data: AuditFindingRecordedData


class AuditClosed(CloudEvent):
    """The audit report was issued and the audit closed."""

    type: Literal["vn.qms.audit.closed.v1"]
    data: AuditClosedData


AUDIT_EVENTS: tuple[type[CloudEvent], ...] = (
    AuditPlanned,
    AuditConducted,
    AuditFindingRecorded,
    AuditClosed,
)
