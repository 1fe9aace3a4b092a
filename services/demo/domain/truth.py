"""The ground truth of a list of events: a plain fold, whatever generated them.

Definitions (the metrics and CAPA services match theirs to these):

- received: dossiers (subjects) with a `dossier.received` event, counted by agency and by
  the month (Asia/Ho_Chi_Minh) of that event;
- resolved: dossiers with a `dossier.resolved` event, by agency and month of resolution;
- on time: resolved with `time <= data.due_at` (the due time in force at resolution,
  after any supplement or apology); late = resolved - on time;
- satisfied: ratings with a score of 4 or 5;
- expected CAPAs (issue 4 policies): one per major or minor finding, one per substantiated
  complaint, one per (agency, procedure, month of resolution) with late dossiers, one per
  objective evaluation that was not met.

Events delivered twice (same source and id) count once, and the order does not matter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.audit import (
    AuditClosed,
    AuditConducted,
    AuditFindingRecorded,
    AuditPlanned,
    FindingClassification,
)
from schemas.complaint import ComplaintFiled, ComplaintResolved, ComplaintWithdrawn
from schemas.dossier import (
    Channel,
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierSupplementRequested,
    DossierWithdrawn,
)
from schemas.envelope import CloudEvent
from schemas.objective import QualityObjectiveEvaluated, QualityObjectiveSet
from schemas.satisfaction import SatisfactionRated
from services.demo.domain.calendar import month_key
from services.demo.domain.truth_kpis import KpiTruth


@dataclass(frozen=True, slots=True)
class DossierCounts:
    """Received, resolved, on time and late dossiers of one agency (or agency and month)."""

    received: int = 0
    resolved: int = 0
    on_time: int = 0

    @property
    def late(self) -> int:
        return self.resolved - self.on_time

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "resolved": self.resolved,
            "on_time": self.on_time,
            "late": self.late,
        }


@dataclass(frozen=True)
class GroundTruth:
    """Per-agency and per-agency-month dossier counts and the province's totals."""

    agencies: dict[str, DossierCounts]
    agency_months: dict[tuple[str, str], DossierCounts]
    totals: dict[str, int]
    findings: dict[str, int]
    expected_capas: dict[str, int] = field(default_factory=dict)
    # Every KPI of docs/kpis.md (per aggregate trails and their counts), for comparisons
    # with the metrics service; not part of `as_json`.
    kpis: KpiTruth = field(default_factory=KpiTruth)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (written by `qms demo --truth-json`)."""
        return {
            "agencies": {code: c.as_dict() for code, c in sorted(self.agencies.items())},
            "agency_months": [
                {"agency": code, "month": month, **c.as_dict()}
                for (code, month), c in sorted(self.agency_months.items())
            ],
            "totals": dict(self.totals),
            "findings": dict(self.findings),
            "expected_capas": dict(self.expected_capas),
        }


_COUNTED = ("received", "resolved", "on_time")


@dataclass
class _Dossiers:
    received: dict[str, tuple[str, str]] = field(default_factory=dict)  # subject -> agency, month
    resolved: dict[str, tuple[str, str, str, bool]] = field(default_factory=dict)
    online: set[str] = field(default_factory=set)


def ground_truth(events: Iterable[CloudEvent]) -> GroundTruth:
    """Fold events (any order, duplicates allowed) into the ground truth."""
    seen: set[tuple[str, str]] = set()
    dossiers = _Dossiers()
    totals: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    complaints_filed: set[str] = set()
    complaints_resolved: dict[str, bool] = {}
    late_groups: set[tuple[str, str, str]] = set()
    kpis = KpiTruth()
    for event in events:
        key = (event.source, event.id)
        if key in seen:
            continue
        seen.add(key)
        kpis.add(event)
        if isinstance(event, DossierReceived):
            dossiers.received[event.subject] = (event.agencycode, month_key(event.time))
            if event.data.channel is Channel.ONLINE:
                dossiers.online.add(event.subject)
        elif isinstance(event, DossierResolved):
            on_time = event.time <= event.data.due_at
            month = month_key(event.time)
            dossiers.resolved[event.subject] = (
                event.agencycode, month, event.data.procedure_code, on_time,
            )  # fmt: skip
        elif isinstance(event, DossierWithdrawn):
            totals["dossiers_withdrawn"] += 1
        elif isinstance(event, DossierSupplementRequested):
            totals["supplements_requested"] += 1
        elif isinstance(event, DossierApologyIssued):
            totals["apologies_issued"] += 1
        elif isinstance(event, ComplaintFiled):
            complaints_filed.add(event.subject)
        elif isinstance(event, ComplaintResolved):
            complaints_resolved[event.subject] = event.data.substantiated
        elif isinstance(event, ComplaintWithdrawn):
            totals["complaints_withdrawn"] += 1
        elif isinstance(event, SatisfactionRated):
            totals["ratings"] += 1
            totals["ratings_satisfied"] += event.data.score >= 4
        elif isinstance(event, AuditPlanned):
            totals["audits_planned"] += 1
        elif isinstance(event, AuditConducted):
            totals["audits_conducted"] += 1
            totals["audits_conducted_on_site"] += event.data.on_site
        elif isinstance(event, AuditClosed):
            totals["audits_closed"] += 1
        elif isinstance(event, AuditFindingRecorded):
            findings[event.data.classification.value] += 1
        elif isinstance(event, QualityObjectiveSet):
            totals["objectives_set"] += 1
        elif isinstance(event, QualityObjectiveEvaluated):
            totals["objectives_evaluated"] += 1
            totals["objectives_missed"] += not event.data.met

    agencies: Counter[tuple[str, str]] = Counter()
    months: Counter[tuple[str, str, str]] = Counter()
    for agency, month in dossiers.received.values():
        agencies[agency, "received"] += 1
        months[agency, month, "received"] += 1
    for agency, month, procedure, on_time in dossiers.resolved.values():
        agencies[agency, "resolved"] += 1
        months[agency, month, "resolved"] += 1
        agencies[agency, "on_time"] += on_time
        months[agency, month, "on_time"] += on_time
        if not on_time:
            late_groups.add((agency, procedure, month))

    def counts(*key: str) -> DossierCounts:
        if len(key) == 1:
            (agency,) = key
            return DossierCounts(*(agencies[agency, k] for k in _COUNTED))
        agency, month = key
        return DossierCounts(*(months[agency, month, k] for k in _COUNTED))

    agency_codes = {agency for agency, _ in agencies}
    month_keys = {(agency, month) for agency, month, _ in months}
    per_agency = {code: counts(code) for code in sorted(agency_codes)}
    total_resolved = sum(c.resolved for c in per_agency.values())
    total_on_time = sum(c.on_time for c in per_agency.values())
    totals.update(
        dossiers_received=len(dossiers.received),
        dossiers_received_online=len(dossiers.online),
        dossiers_resolved=total_resolved,
        dossiers_on_time=total_on_time,
        dossiers_late=total_resolved - total_on_time,
        complaints_filed=len(complaints_filed),
        complaints_resolved=len(complaints_resolved),
        complaints_substantiated=sum(complaints_resolved.values()),
    )
    by_classification = {c.value: findings[c.value] for c in FindingClassification}
    expected = {
        "from_findings": by_classification["major"] + by_classification["minor"],
        "from_complaints": totals["complaints_substantiated"],
        "from_late_dossiers": len(late_groups),
        "from_missed_objectives": totals["objectives_missed"],
    }
    expected["total"] = sum(expected.values())
    return GroundTruth(
        agencies=per_agency,
        agency_months={key: counts(*key) for key in sorted(month_keys)},
        totals=dict(sorted(totals.items())),
        findings=by_classification,
        expected_capas=expected,
        kpis=kpis,
    )
