"""The ground truth of a list of events: a plain fold, whatever generated them.

`fold(events)` drops repeated `(source, id)` and folds each event into the trail of its
aggregate (dossier, complaint, rating, audit, objective) and the event totals; the count
methods of `KpiTruth` then apply the docs/kpis.md rules to the trails for any grouping and
month range, and `ground_truth(events)` gives the demo's figures (per agency, per agency
and month, totals, expected CAPAs) from the same trails. Written from the definitions,
independently of the metrics service's SQL, so the two can be compared. Order of the
events does not matter: every rule takes the earliest or latest event by `time`, never
by arrival. The rules, in short:

- received: dossiers (subjects) with a `dossier.received` event, counted by agency and by
  the month (Asia/Ho_Chi_Minh) of that event;
- resolved: dossiers with a `dossier.resolved` event, by agency and month of resolution;
- on time: resolved with `time <= data.due_at` (the due time in force at resolution,
  after any supplement or apology); late = resolved - on time;
- online by level: level 3 (partly online) and level 4 (full online) apart, and received
  by channel; the score's online service is the level-4 share;
- at an instant T, only events dated at or before T: in progress (received, neither
  resolved nor withdrawn), waiting for supplement (the latest request has no supplement
  after it: the clock is stopped, never overdue), overdue (past the due time in force);
- satisfied: ratings with a score of 4 or 5;
- expected CAPAs (issue 4 policies): one per major or minor finding, one per substantiated
  complaint, one per (agency, procedure, month of resolution) with late dossiers, one per
  objective evaluation that was not met; and (measured, register_truth.py) one per
  (agency, procedure, month of receipt) with dossiers received under a procedure not in
  force, and one per such group with due dates extended beyond the statutory time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.audit import (
    AuditClosed,
    AuditConducted,
    AuditFindingRecorded,
    AuditKind,
    AuditPlanned,
    FindingClassification,
)
from schemas.complaint import ComplaintFiled, ComplaintResolved, ComplaintWithdrawn
from schemas.dossier import (
    Channel,
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierSupplementReceived,
    DossierSupplementRequested,
    DossierWithdrawn,
)
from schemas.envelope import CloudEvent
from schemas.objective import QualityObjectiveEvaluated, QualityObjectiveSet
from schemas.satisfaction import SatisfactionRated
from services.demo.domain.calendar import month_key
from services.demo.domain.deliveries import once_each
from services.demo.domain.document_truth import DocumentTruth, document_truth
from services.demo.domain.register_truth import RegisterTruth, fold_register

# First and last month ("YYYY-MM"), both included; None = all time.
Months = tuple[str, str] | None
# Grouping keys of a count: any of "agency", "procedure", "month" (in that order).
Group = tuple[str, ...]

DOSSIER_MEASURES = (
    "received", "resolved", "on_time", "received_online", "received_online_l34",
    "supplement_requested", "withdrawn", "apologies", "received_online_l3", "received_online_l4",
    "received_counter", "received_postal",
)  # fmt: skip
SATISFIED_FROM = 4


def _in(month: str, months: Months) -> bool:
    return months is None or months[0] <= month <= months[1]


def period_months(period: str) -> tuple[str, str]:
    """`2026`, `2026-Q2` or `2026-05` as its first and last month."""
    if len(period) == 4:
        return f"{period}-01", f"{period}-12"
    if "-Q" in period:
        year, quarter = period.split("-Q")
        first = 3 * (int(quarter) - 1) + 1
        return f"{year}-{first:02d}", f"{year}-{first + 2:02d}"
    return period, period


def _pct(numerator: float, denominator: float) -> float | None:
    return None if not denominator else 100.0 * numerator / denominator


@dataclass
class DossierTrail:
    """What happened to one dossier: each event kind with its time (and due times)."""

    agency: str
    procedure: str
    received: list[tuple[datetime, Channel, int]] = field(default_factory=list)
    resolved: list[tuple[datetime, bool]] = field(default_factory=list)  # time, on time
    supplement_requested: list[datetime] = field(default_factory=list)
    supplement_received: list[datetime] = field(default_factory=list)
    withdrawn: list[datetime] = field(default_factory=list)
    apologies: list[datetime] = field(default_factory=list)
    # (event time, due time it sets): received.due_at, supplement_received.new_due_at,
    # apology_issued.new_due_at; the one with the latest event time is in force.
    due_times: list[tuple[datetime, datetime]] = field(default_factory=list)

    def marks(self) -> set[tuple[str, str]]:
        """(measure, month) pairs this dossier counts for (once each)."""
        out: set[tuple[str, str]] = set()
        for time, channel, level in self.received:
            month = month_key(time)
            out.add(("received", month))
            if channel is Channel.ONLINE:
                out.add(("received_online", month))
                if level >= 3:
                    out.add(("received_online_l34", month))
                if level in (3, 4):  # partly online, full online ("toàn trình")
                    out.add((f"received_online_l{level}", month))
            else:
                out.add((f"received_{channel.value}", month))  # counter or postal
        for time, on_time in self.resolved:
            out.add(("resolved", month_key(time)))
            if on_time:
                out.add(("on_time", month_key(time)))
        for name in ("supplement_requested", "withdrawn", "apologies"):
            out.update((name, month_key(t)) for t in getattr(self, name))
        return out

    def open_at(self, at: datetime, as_known_now: bool = False) -> tuple[bool, bool, bool]:
        """At `at`: in progress, waiting for a supplement (clock stopped), overdue.

        Only events dated at or before `at` count; `as_known_now` takes the due time in
        force from every event instead (a revision dated after `at` applies).
        """
        received = [t for t, _, _ in self.received if t <= at]
        stopped = [t for t, _ in self.resolved if t <= at] + [t for t in self.withdrawn if t <= at]
        if not received or stopped:
            return False, False, False
        requested = max((t for t in self.supplement_requested if t <= at), default=None)
        supplied = max((t for t in self.supplement_received if t <= at), default=None)
        waiting = requested is not None and (supplied is None or supplied < requested)
        known = [d for d in self.due_times if as_known_now or d[0] <= at]
        due = max(known)[1] if known else None
        return True, waiting, not waiting and due is not None and due < at


@dataclass
class ComplaintTrail:
    agency: str
    filed: list[datetime] = field(default_factory=list)
    resolved: list[tuple[datetime, bool]] = field(default_factory=list)


@dataclass
class RatingTrail:
    agency: str
    scores: list[tuple[datetime, int]] = field(default_factory=list)


@dataclass
class AuditTrail:
    audited_agency: str
    kind: AuditKind
    conducted: list[datetime] = field(default_factory=list)
    on_site: bool = False  # stated on the planned or the conducted event
    findings: dict[str, FindingClassification] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectiveEvaluation:
    """The latest evaluation of one objective for one period."""

    agency: str
    objective: str
    indicator: str
    period: str
    target: float
    actual: float
    met: bool
    time: datetime


def _group_key(group: Group, agency: str, procedure: str, month: str) -> tuple[str, ...]:
    values = {"agency": agency, "procedure": procedure, "month": month}
    return tuple(values[g] for g in group)


@dataclass
class KpiTruth:
    """Trails of every aggregate, and the KPI counts of docs/kpis.md over them."""

    dossiers: dict[str, DossierTrail] = field(default_factory=dict)
    complaints: dict[str, ComplaintTrail] = field(default_factory=dict)
    ratings: dict[str, RatingTrail] = field(default_factory=dict)
    audits: dict[str, AuditTrail] = field(default_factory=dict)
    objective_evaluations: dict[tuple[str, str], ObjectiveEvaluation] = field(default_factory=dict)
    objectives_set: dict[str, tuple[datetime, float, str]] = field(default_factory=dict)
    events_by_type: Counter[str] = field(default_factory=Counter)
    agencies_in_scope: set[str] = field(default_factory=set)
    # Each agency in scope with the local month of its first dossier or audit event.
    agencies_first_month: dict[str, str] = field(default_factory=dict)
    latest_time: datetime | None = None
    # Per-event totals of the demo's summary (events, not aggregates: docs/demo.md).
    totals: Counter[str] = field(default_factory=Counter)
    findings_recorded: Counter[str] = field(default_factory=Counter)

    # --- the fold -------------------------------------------------------------------------
    def add(self, event: CloudEvent) -> None:
        """Fold one (not yet seen) event into its aggregate's trail."""
        self.events_by_type[event.type] += 1
        if self.latest_time is None or event.time > self.latest_time:
            self.latest_time = event.time
        self._count(event)
        if event.family == "dossier":
            self._dossier(event)
        elif isinstance(event, ComplaintFiled):
            self._complaint(event).filed.append(event.time)
        elif isinstance(event, ComplaintResolved):
            self._complaint(event).resolved.append((event.time, event.data.substantiated))
        elif isinstance(event, SatisfactionRated):
            trail = self.ratings.setdefault(event.subject, RatingTrail(event.agencycode))
            trail.scores.append((event.time, event.data.score))
        elif event.family == "audit":
            self._audit(event)
        elif isinstance(event, QualityObjectiveSet):
            latest = self.objectives_set.get(event.subject)
            if latest is None or event.time > latest[0]:
                self.objectives_set[event.subject] = (
                    event.time, event.data.target, event.data.comparison.value,
                )  # fmt: skip
        elif isinstance(event, QualityObjectiveEvaluated):
            d = event.data
            key = (event.subject, d.period)
            known = self.objective_evaluations.get(key)
            if known is None or event.time > known.time:
                self.objective_evaluations[key] = ObjectiveEvaluation(
                    event.agencycode, event.subject, d.indicator.value, d.period, d.target,
                    d.actual, d.met, event.time,
                )  # fmt: skip

    def _count(self, event: CloudEvent) -> None:
        totals = self.totals
        if isinstance(event, DossierWithdrawn):
            totals["dossiers_withdrawn"] += 1
        elif isinstance(event, DossierSupplementRequested):
            totals["supplements_requested"] += 1
        elif isinstance(event, DossierApologyIssued):
            totals["apologies_issued"] += 1
        elif isinstance(event, ComplaintWithdrawn):
            totals["complaints_withdrawn"] += 1
        elif isinstance(event, SatisfactionRated):
            totals["ratings"] += 1
            totals["ratings_satisfied"] += event.data.score >= SATISFIED_FROM
        elif isinstance(event, AuditPlanned):
            totals["audits_planned"] += 1
        elif isinstance(event, AuditConducted):
            totals["audits_conducted"] += 1
            totals["audits_conducted_on_site"] += event.data.on_site
        elif isinstance(event, AuditClosed):
            totals["audits_closed"] += 1
        elif isinstance(event, AuditFindingRecorded):
            self.findings_recorded[event.data.classification.value] += 1
        elif isinstance(event, QualityObjectiveSet):
            totals["objectives_set"] += 1
        elif isinstance(event, QualityObjectiveEvaluated):
            totals["objectives_evaluated"] += 1
            totals["objectives_missed"] += not event.data.met

    def _dossier(self, event: CloudEvent) -> None:
        self._in_scope(event.agencycode, event.time)
        procedure = str(getattr(getattr(event, "data", None), "procedure_code", ""))
        trail = self.dossiers.setdefault(event.subject, DossierTrail(event.agencycode, procedure))
        if isinstance(event, DossierReceived):
            d = event.data
            trail.received.append((event.time, d.channel, d.online_level or 0))
            trail.due_times.append((event.time, d.due_at))
        elif isinstance(event, DossierResolved):
            trail.resolved.append((event.time, event.on_time))
        elif isinstance(event, DossierSupplementRequested):
            trail.supplement_requested.append(event.time)
        elif isinstance(event, DossierSupplementReceived):
            trail.supplement_received.append(event.time)
            trail.due_times.append((event.time, event.data.new_due_at))
        elif isinstance(event, DossierWithdrawn):
            trail.withdrawn.append(event.time)
        elif isinstance(event, DossierApologyIssued):
            trail.apologies.append(event.time)
            trail.due_times.append((event.time, event.data.new_due_at))

    def _in_scope(self, agency: str, time: datetime) -> None:
        self.agencies_in_scope.add(agency)
        month = month_key(time)
        self.agencies_first_month[agency] = min(month, self.agencies_first_month.get(agency, month))

    def _complaint(self, event: CloudEvent) -> ComplaintTrail:
        return self.complaints.setdefault(event.subject, ComplaintTrail(event.agencycode))

    def _audit(self, event: CloudEvent) -> None:
        data = getattr(event, "data", None)
        audited = str(getattr(data, "audited_agency", event.agencycode))
        self._in_scope(audited, event.time)
        kind = getattr(data, "kind", AuditKind.INTERNAL_AUDIT)
        trail = self.audits.setdefault(event.subject, AuditTrail(audited, kind))
        if isinstance(event, AuditPlanned):
            trail.on_site |= event.data.on_site
        elif isinstance(event, AuditConducted):
            trail.conducted.append(event.time)
            trail.on_site |= event.data.on_site
        elif isinstance(event, AuditFindingRecorded):
            trail.findings[event.data.finding_id] = event.data.classification

    # --- the counts -----------------------------------------------------------------------
    def dossier_counts(
        self, group: Group, months: Months = None
    ) -> dict[tuple[str, ...], dict[str, int]]:
        """Dossiers per measure (and `late`) for each group over the months.

        A dossier counts once per measure and month (the month of its such events), and a
        range of months adds its months up: a dossier with supplement requests in March and
        in April is one in each month and two over March–April (docs/kpis.md).
        """
        sets: dict[tuple[str, ...], dict[str, set[tuple[str, str]]]] = defaultdict(
            lambda: {m: set() for m in DOSSIER_MEASURES}
        )
        for code, trail in self.dossiers.items():
            for measure, month in trail.marks():
                if _in(month, months):
                    key = _group_key(group, trail.agency, trail.procedure, month)
                    sets[key][measure].add((code, month))
        out = {}
        for key, by_measure in sets.items():
            counts = {m: len(s) for m, s in by_measure.items()}
            counts["late"] = counts["resolved"] - counts["on_time"]
            out[key] = counts
        return out

    def dossiers_open_at(
        self, at: datetime, as_known_now: bool = False
    ) -> dict[str, dict[str, int]]:
        """Per agency at `at`: dossiers in progress, waiting for a supplement, overdue."""
        out: dict[str, dict[str, int]] = defaultdict(
            lambda: {"in_progress": 0, "waiting_for_supplement": 0, "overdue": 0}
        )
        for trail in self.dossiers.values():
            in_progress, waiting, overdue = trail.open_at(at, as_known_now)
            if in_progress:
                row = out[trail.agency]
                row["in_progress"] += 1
                row["waiting_for_supplement"] += waiting
                row["overdue"] += overdue
        return dict(out)

    def complaint_counts(
        self, group: Group, months: Months = None
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        """Filed (filing month), resolved and substantiated (resolution month), mean days."""
        out: dict[tuple[str, ...], dict[str, float]] = defaultdict(
            lambda: {"filed": 0, "resolved": 0, "substantiated": 0, "days": 0.0, "timed": 0}
        )
        for trail in self.complaints.values():
            filed = min(trail.filed) if trail.filed else None
            if filed is not None and _in(month_key(filed), months):
                out[_group_key(group, trail.agency, "", month_key(filed))]["filed"] += 1
            if trail.resolved:
                resolved = min(t for t, _ in trail.resolved)
                if _in(month_key(resolved), months):
                    row = out[_group_key(group, trail.agency, "", month_key(resolved))]
                    row["resolved"] += 1
                    row["substantiated"] += any(s for _, s in trail.resolved)
                    if filed is not None:
                        row["days"] += (resolved - filed).total_seconds() / 86400
                        row["timed"] += 1
        return {
            key: {
                **row,
                "avg_resolution_days": row["days"] / row["timed"] if row["timed"] else None,
            }
            for key, row in out.items()
        }

    def satisfaction_counts(
        self, group: Group, months: Months = None
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        """Ratings (month of the first), satisfied (latest score >= 4), score sum."""
        out: dict[tuple[str, ...], dict[str, float]] = defaultdict(
            lambda: {"ratings": 0, "satisfied": 0, "score_sum": 0}
        )
        for trail in self.ratings.values():
            month = month_key(min(t for t, _ in trail.scores))
            if _in(month, months):
                score = max(trail.scores)[1]
                row = out[_group_key(group, trail.agency, "", month)]
                row["ratings"] += 1
                row["satisfied"] += score >= SATISFIED_FROM
                row["score_sum"] += score
        return dict(out)

    def audit_counts(self, months: Months = None) -> dict[str, dict[str, int]]:
        """Per audited agency: audits by kind conducted in the months, on-site, findings."""
        out: dict[str, dict[str, int]] = defaultdict(Counter)
        for trail in self.audits.values():
            if not trail.conducted or not _in(month_key(min(trail.conducted)), months):
                continue
            row = out[trail.audited_agency]
            kind_column = {AuditKind.INTERNAL_AUDIT: "internal_audits",
                           AuditKind.EXTERNAL_AUDIT: "external_audits",
                           AuditKind.INSPECTION: "inspections"}[trail.kind]  # fmt: skip
            row[kind_column] += 1
            row["onsite_inspections"] += trail.kind is AuditKind.INSPECTION and trail.on_site
            row["findings"] += len(trail.findings)
            classes = list(trail.findings.values())
            row["major_findings"] += classes.count(FindingClassification.MAJOR)
            row["minor_findings"] += classes.count(FindingClassification.MINOR)
        return {agency: dict(row) for agency, row in out.items()}

    def audit_coverage(self, months: Months = None) -> dict[str, int]:
        """Agencies in scope, agencies internally audited or inspected, inspections on site."""
        conducted = [t for t in self.audits.values()
                     if t.conducted and _in(month_key(min(t.conducted)), months)]  # fmt: skip
        inspections = [t for t in conducted if t.kind is AuditKind.INSPECTION]
        last = months[1] if months is not None else "9999-12"
        return {
            # in scope by the end of the months (as of then); all time without an end
            "agencies": sum(1 for m in self.agencies_first_month.values() if m <= last),
            "internally_audited": len(
                {t.audited_agency for t in conducted if t.kind is AuditKind.INTERNAL_AUDIT}
            ),
            "inspected": len({t.audited_agency for t in inspections}),
            "inspections": len(inspections),
            "onsite_inspections": sum(1 for t in inspections if t.on_site),
        }

    def findings_by_classification(self) -> dict[str, int]:
        """Distinct findings of conducted audits, by classification."""
        counts = Counter(c.value for t in self.audits.values() if t.conducted
                         for c in t.findings.values())  # fmt: skip
        return {c.value: counts[c.value] for c in FindingClassification}

    def measured(self, agency: str, indicator: str, period: str) -> float | None:
        """An objective's indicator measured on the agency's own events of the period."""
        months = period_months(period)
        if indicator in ("on_time_rate", "online_share"):
            d = self.dossier_counts(("agency",), months).get((agency,))
            if d is None:
                return None
            if indicator == "on_time_rate":
                return _pct(d["on_time"], d["resolved"])
            return _pct(d["received_online"], d["received"])
        if indicator == "satisfaction_rate":
            s = self.satisfaction_counts(("agency",), months).get((agency,))
            return None if s is None else _pct(s["satisfied"], s["ratings"])
        c = self.complaint_counts(("agency",), months).get((agency,))
        return None if c is None else _pct(c["resolved"], c["filed"])

    def objectives_met(self) -> dict[str, int]:
        """Evaluations (latest per objective and period) as reported: met and missed."""
        met = sum(1 for e in self.objective_evaluations.values() if e.met)
        return {"evaluated": len(self.objective_evaluations), "met": met,
                "missed": len(self.objective_evaluations) - met}  # fmt: skip


def public_service_score(
    dossiers: Mapping[str, int], ratings: int, satisfied: int
) -> dict[str, float | None]:
    """The Decision 766-spirit score of docs/kpis.md from one period's counts."""
    components = {
        "progress": _pct(dossiers["on_time"], dossiers["resolved"]),
        # online service: the full-online (level 4) share
        "online_service": _pct(dossiers["received_online_l4"], dossiers["received"]),
        "satisfaction": _pct(satisfied, ratings),
        "transparency": 100.0
        if dossiers["late"] == 0
        else min(100.0, 100.0 * dossiers["apologies"] / dossiers["late"]),
        "digitisation": _pct(dossiers["received_online_l34"], dossiers["received"]),
    }
    weights = {"progress": 30, "online_service": 20, "satisfaction": 20, "transparency": 15,
               "digitisation": 15}  # fmt: skip
    present = {k: w for k, w in weights.items() if components[k] is not None}
    total = sum(present.values())
    score = sum(w * (components[k] or 0.0) for k, w in present.items()) / total if total else None
    return {**components, "score": score}


def fold(events: Iterable[CloudEvent]) -> KpiTruth:
    """A KpiTruth of events delivered any number of times, in any order."""
    truth = KpiTruth()
    for event in once_each(events):
        truth.add(event)
    return truth


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
    # Every KPI of docs/kpis.md (the trails and their counts), for comparisons with the
    # metrics service; not part of `as_json`.
    kpis: KpiTruth = field(default_factory=KpiTruth)
    # Document control (services/demo/domain/document_truth.py), also not in `as_json`.
    documents: DocumentTruth = field(default_factory=DocumentTruth)
    # The procedure register's KPIs and CAPA groups (register_truth.py).
    register: RegisterTruth | None = None

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


def _dossier_counts(
    counts: Mapping[tuple[str, ...], Mapping[str, int]],
) -> dict[Any, DossierCounts]:
    """Rows with a received or resolved dossier, keyed by agency or (agency, month)."""
    return {
        (key[0] if len(key) == 1 else key): DossierCounts(*(row[k] for k in _COUNTED))
        for key, row in sorted(counts.items())
        if row["received"] or row["resolved"]
    }


def ground_truth(events: Iterable[CloudEvent]) -> GroundTruth:
    """Fold events (any order, duplicates allowed) into the ground truth."""
    events = list(events)
    kpis = fold(events)
    per_agency = _dossier_counts(kpis.dossier_counts(("agency",)))
    dossiers = kpis.dossiers.values()
    complaints = kpis.complaints.values()
    late_groups = {
        (trail.agency, trail.procedure, month_key(time))
        for trail in dossiers
        for time, on_time in trail.resolved
        if not on_time
    }
    totals = Counter(kpis.totals)
    totals.update(
        dossiers_received=sum(1 for t in dossiers if t.received),
        dossiers_received_online=sum(
            1 for t in dossiers if any(c is Channel.ONLINE for _, c, _ in t.received)
        ),
        dossiers_resolved=sum(c.resolved for c in per_agency.values()),
        dossiers_on_time=sum(c.on_time for c in per_agency.values()),
        dossiers_late=sum(c.late for c in per_agency.values()),
        complaints_filed=sum(1 for t in complaints if t.filed),
        complaints_resolved=sum(1 for t in complaints if t.resolved),
        complaints_substantiated=sum(1 for t in complaints if any(s for _, s in t.resolved)),
    )
    findings = {c.value: kpis.findings_recorded[c.value] for c in FindingClassification}
    register = fold_register(events)
    measured = register.capa_groups()
    documents = document_truth(events)
    expected = {
        "from_findings": findings["major"] + findings["minor"],
        "from_complaints": totals["complaints_substantiated"],
        "from_late_dossiers": len(late_groups),
        "from_missed_objectives": totals["objectives_missed"],
        "from_procedures_not_in_force": len(measured["procedure_not_in_force"]),
        "from_extended_due_dates": len(measured["extended_due_dates"]),
        # One CAPA per ISO process document not revised in time, as of the last event.
        "from_processes_not_revised": len(
            documents.processes_overdue(max(e.time for e in events)) if events else []
        ),
    }
    expected["total"] = sum(expected.values())
    return GroundTruth(
        agencies=per_agency,
        agency_months=_dossier_counts(kpis.dossier_counts(("agency", "month"))),
        totals=dict(sorted(totals.items())),
        findings=findings,
        expected_capas=expected,
        kpis=kpis,
        documents=documents,
        register=register,
    )
