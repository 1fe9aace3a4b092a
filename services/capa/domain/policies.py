"""Policies: which published events reveal a nonconformity, and the command that records it.

Each CAPA id is derived from the source key, so a source event delivered twice asks for the
same CAPA, which `decide` recognises by its reference; late dossiers of one agency,
procedure and month share one CAPA and are linked to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from schemas.audit import AuditFindingRecorded, AuditKind, FindingClassification
from schemas.capa import NonconformitySource, Severity, SourceReference
from schemas.complaint import ComplaintResolved
from schemas.dossier import DossierResolved
from schemas.envelope import CloudEvent
from schemas.objective import QualityObjectiveEvaluated
from services.capa.domain.commands import OpenCapa
from services.capa.domain.state import LOCAL_TIME, local_date
from services.capa.domain.transitions import Role

POLICY_ACTOR = "system:policy"
_CAPA_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qms:capa")
_TEXT_LIMIT = 4000


def capa_id_for(*key: str) -> str:
    """Deterministic CAPA id of a source key: the same key always names the same CAPA."""
    return f"CAPA-{uuid.uuid5(_CAPA_NAMESPACE, '|'.join(key))}"


def default_owner(agency: str) -> str:
    """Until someone is assigned, a CAPA belongs to the agency's quality office."""
    return f"owner:{agency}"


@dataclass(frozen=True)
class DueDatePolicy:
    """Days allowed, counted from the nonconformity, per severity (configurable)."""

    correction_days: Mapping[Severity, int] = field(
        default_factory=lambda: {Severity.MAJOR: 7, Severity.MINOR: 15}
    )
    closure_days: Mapping[Severity, int] = field(
        default_factory=lambda: {Severity.MAJOR: 30, Severity.MINOR: 60}
    )

    def due_dates(self, severity: Severity, noticed_on: date) -> tuple[date, date]:
        correction = noticed_on + timedelta(days=self.correction_days[severity])
        closure = noticed_on + timedelta(days=self.closure_days[severity])
        return correction, max(correction, closure)


def commands_for(event: CloudEvent, policy: DueDatePolicy) -> list[OpenCapa]:
    """The CAPA commands a published event calls for (most events call for none)."""
    policy_of = _POLICIES.get(type(event))
    return [] if policy_of is None else policy_of(event, policy)


def _reference(event: CloudEvent) -> SourceReference:
    return SourceReference(source=event.source, id=event.id, subject=event.subject)


def _open(
    event: CloudEvent,
    policy: DueDatePolicy,
    *,
    capa_id: str,
    source: NonconformitySource,
    agency: str,
    process: str,
    severity: Severity,
    description: str,
    **extra: object,
) -> OpenCapa:
    correction_due, closure_due = policy.due_dates(severity, local_date(event.time))
    return OpenCapa(
        capa_id=capa_id,
        actor_id=POLICY_ACTOR,
        actor_role=Role.SYSTEM,
        at=event.time,
        reason=f"policy: {event.type} {event.id} from {event.source}"[:_TEXT_LIMIT],
        source=source,
        reference=_reference(event),
        agency=agency,
        process=process[:200],
        severity=severity,
        description=description[:_TEXT_LIMIT],
        owner_id=default_owner(agency),
        correction_due_on=correction_due,
        closure_due_on=closure_due,
        **extra,  # type: ignore[arg-type]
    )


def _finding(event: AuditFindingRecorded, policy: DueDatePolicy) -> list[OpenCapa]:
    data = event.data
    if data.classification not in (FindingClassification.MAJOR, FindingClassification.MINOR):
        return []  # observations and opportunities for improvement need no CAPA
    source = (
        NonconformitySource.INSPECTION_FINDING
        if data.kind is AuditKind.INSPECTION
        else NonconformitySource.AUDIT_FINDING
    )
    return [
        _open(
            event,
            policy,
            capa_id=capa_id_for(source, event.source, event.id),
            source=source,
            agency=data.audited_agency,
            process=data.process,
            severity=Severity(data.classification.value),
            description=f"{data.kind.value} finding {data.finding_id}: {data.description}",
            procedure_code=data.procedure_code,
            classification=data.classification,
            iso_clause=data.iso_clause,
        )
    ]


def _complaint(event: ComplaintResolved, policy: DueDatePolicy) -> list[OpenCapa]:
    data = event.data
    if not data.substantiated:
        return []
    source = NonconformitySource.COMPLAINT
    return [
        _open(
            event,
            policy,
            capa_id=capa_id_for(source, event.source, event.id),
            source=source,
            agency=event.agencycode,
            process=data.procedure_code or "complaint_handling",
            severity=Severity.MINOR,
            description=f"Substantiated complaint {event.subject}: {data.resolution}",
            procedure_code=data.procedure_code,
            iso_clause="9.1.2",  # customer satisfaction
        )
    ]


def resolution_month(resolved_at: datetime) -> str:
    """`2026-03`: the month, in Vietnam, a dossier was resolved."""
    return resolved_at.astimezone(LOCAL_TIME).strftime("%Y-%m")


def late_dossier_capa_id(agency: str, procedure_code: str, month: str) -> str:
    return capa_id_for(NonconformitySource.LATE_DOSSIERS, agency, procedure_code, month)


def _late_dossier(event: DossierResolved, policy: DueDatePolicy) -> list[OpenCapa]:
    data = event.data
    if event.on_time:
        return []
    month = resolution_month(event.time)
    agency = event.agencycode
    return [
        _open(
            event,
            policy,
            capa_id=late_dossier_capa_id(agency, data.procedure_code, month),
            source=NonconformitySource.LATE_DOSSIERS,
            agency=agency,
            process=data.procedure_code,
            severity=Severity.MINOR,
            description=(
                f"Dossiers of procedure {data.procedure_code} resolved after their due time "
                f"in {month} (first: {event.subject})"
            ),
            procedure_code=data.procedure_code,
            iso_clause="8.5.1",  # control of service provision
            period=month,
        )
    ]


def _missed_objective(event: QualityObjectiveEvaluated, policy: DueDatePolicy) -> list[OpenCapa]:
    data = event.data
    if data.met:
        return []
    source = NonconformitySource.MISSED_OBJECTIVE
    return [
        _open(
            event,
            policy,
            capa_id=capa_id_for(source, event.source, event.id),
            source=source,
            agency=event.agencycode,
            process=f"objective:{data.indicator.value}",
            severity=Severity.MAJOR,
            description=(
                f"Quality objective {data.indicator.value} missed for {data.period}: "
                f"{data.actual:g} against a target of {data.target:g}"
            ),
            iso_clause="6.2",  # quality objectives
            period=data.period[:16],
        )
    ]


# The only events that can reveal a nonconformity, each with its policy.
_POLICIES: Mapping[type[CloudEvent], Callable[[Any, DueDatePolicy], list[OpenCapa]]] = {
    AuditFindingRecorded: _finding,
    ComplaintResolved: _complaint,
    DossierResolved: _late_dossier,
    QualityObjectiveEvaluated: _missed_objective,
}
POLICY_EVENTS: tuple[type[CloudEvent], ...] = tuple(_POLICIES)
