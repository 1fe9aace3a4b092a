"""The ground truth of the procedure register's KPIs and CAPAs: a plain fold over events.

Written from docs/kpis.md ("Procedure register", "Statutory due time"), independently of
the metrics service's SQL: duplicates of a `(source, id)` count once and every rule takes
the earliest or latest event by `time`, so the order of delivery does not matter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from schemas.dossier import DossierReceived, DossierResolved, DossierSupplementReceived
from schemas.envelope import CloudEvent
from schemas.procedure import ProcedureAmended, ProcedurePublished, ProcedureRepealed
from services.common.working_days import WorkingCalendar, YearNotCovered, vietnam_calendar
from services.demo.domain.calendar import VN_TZ, local_day, month_key
from services.demo.domain.deliveries import once_each


@dataclass(frozen=True, slots=True)
class _Version:
    version: int
    effective_from: date
    statutory_days: int
    effective_to: date | None = None


@dataclass
class _Dossier:
    agency: str = ""
    procedure: str = ""
    received: tuple[datetime, str] | None = None  # (time, id) of the first received
    stated_version: int | None = None
    dues: list[tuple[datetime, str, datetime]] = field(default_factory=list)  # received/supplement
    supplements: list[datetime] = field(default_factory=list)
    resolved: tuple[datetime, str, datetime] | None = None  # first (time, id, due_at)


@dataclass(frozen=True)
class RegisterTruth:
    """Per dossier, what the register and the calendar say of it."""

    not_in_force: dict[str, tuple[str, str, str, str]]  # dossier → agency, procedure, month, reason
    extended: dict[str, tuple[str, str, str]]  # dossier → agency, procedure, month of receipt
    resolved_dossiers: frozenset[str]  # judged for the extended-due CAPA: resolved ones only
    statutory: Counter[tuple[str, str]]  # (agency, month of receipt) → dossiers with a due time
    resolved: Counter[tuple[str, str]]  # (agency, month of resolution) → resolved
    on_time: Counter[tuple[str, str]]
    on_time_statutory: Counter[tuple[str, str]]
    registered: bool  # the register holds any event

    def not_in_force_counts(self) -> Counter[tuple[str, str, str]]:
        """(agency, month, reason) → dossiers."""
        return Counter((a, m, r) for a, _, m, r in self.not_in_force.values())

    def capa_groups(self) -> dict[str, dict[tuple[str, str, str], list[str]]]:
        """Per CAPA source kind: (agency, procedure, month) → the dossiers linked, in order."""
        groups: dict[str, dict[tuple[str, str, str], list[str]]] = {
            "procedure_not_in_force": defaultdict(list),
            "extended_due_dates": defaultdict(list),
        }
        if self.registered:
            for dossier, (a, p, m, _) in sorted(self.not_in_force.items()):
                groups["procedure_not_in_force"][a, p, m].append(dossier)
        for dossier, (a, p, m) in sorted(self.extended.items()):
            if dossier in self.resolved_dossiers:  # final once resolved (docs/kpis.md)
                groups["extended_due_dates"][a, p, m].append(dossier)
        return {kind: dict(g) for kind, g in groups.items()}


def _versions_in_force(
    versions: dict[int, tuple[tuple[datetime, str], date, int]], repeals: set[date]
) -> list[_Version]:
    ordered = sorted(
        (_Version(v, frm, days) for v, (_, frm, days) in versions.items()),
        key=lambda v: (v.effective_from, v.version),
    )
    result = []
    for n, v in enumerate(ordered):
        ends = [r for r in repeals if r >= v.effective_from]
        if n + 1 < len(ordered):
            ends.append(ordered[n + 1].effective_from)
        result.append(
            _Version(v.version, v.effective_from, v.statutory_days, min(ends, default=None))
        )
    return result


def fold_register(
    events: Iterable[CloudEvent], calendar: WorkingCalendar | None = None
) -> RegisterTruth:
    calendar = calendar or vietnam_calendar()
    versions: dict[str, dict[int, tuple[tuple[datetime, str], date, int]]] = defaultdict(dict)
    repeals: dict[str, set[date]] = defaultdict(set)
    known: set[str] = set()
    dossiers: dict[str, _Dossier] = defaultdict(_Dossier)
    for event in once_each(events):
        if isinstance(event, ProcedurePublished | ProcedureAmended):
            d = event.data
            known.add(d.procedure_code)
            stamp = (event.time, event.id)
            held = versions[d.procedure_code].get(d.version)
            if held is None or held[0] < stamp:
                versions[d.procedure_code][d.version] = (
                    stamp,
                    d.effective_from,
                    d.statutory_working_days,
                )
        elif isinstance(event, ProcedureRepealed):
            known.add(event.data.procedure_code)
            repeals[event.data.procedure_code].add(event.data.effective_from)
        elif isinstance(event, DossierReceived):
            trail = dossiers[event.subject]
            stamp = (event.time, event.id)
            trail.dues.append((event.time, event.id, event.data.due_at))
            if trail.received is None or stamp < trail.received:
                trail.received = stamp
                trail.agency, trail.procedure = event.agencycode, event.data.procedure_code
                trail.stated_version = event.data.procedure_version
        elif isinstance(event, DossierSupplementReceived):
            trail = dossiers[event.subject]
            trail.supplements.append(event.time)
            trail.dues.append((event.time, event.id, event.data.new_due_at))
        elif isinstance(event, DossierResolved):
            trail = dossiers[event.subject]
            one = (event.time, event.id, event.data.due_at)
            if trail.resolved is None or one[:2] < trail.resolved[:2]:
                trail.resolved = one

    in_force = {p: _versions_in_force(v, repeals[p]) for p, v in versions.items()}
    resolved = frozenset(code for code, trail in dossiers.items() if trail.resolved is not None)
    truth = RegisterTruth({}, {}, resolved, Counter(), Counter(), Counter(), Counter(), bool(known))
    for code, trail in dossiers.items():
        if trail.received is None:
            continue
        received = trail.received[0]
        day = local_day(received)
        month = month_key(received)
        candidates = [
            v
            for v in in_force.get(trail.procedure, [])
            if v.effective_from <= day
            and (v.effective_to is None or v.effective_to > v.effective_from)
        ]
        version = max(candidates, key=lambda v: (v.effective_from, v.version), default=None)
        if trail.procedure not in known:
            reason = "unknown"
        elif version is None:
            reason = "not_yet_in_force"
        elif version.effective_to is not None and day >= version.effective_to:
            reason = "repealed"
        elif trail.stated_version is not None and trail.stated_version != version.version:
            reason = "outdated_version"
        else:
            reason = ""
        if reason:
            truth.not_in_force[code] = (trail.agency, trail.procedure, month, reason)
        if version is None or reason in ("repealed",):
            continue
        start = max([received, *trail.supplements])
        published = max(trail.dues, key=lambda d: (d[0], d[1]))[2]
        n = version.statutory_days
        try:
            due_day = calendar.add_working_days(local_day(start), n)
        except YearNotCovered:
            continue
        statutory_due = datetime.combine(due_day + timedelta(days=1), time(0), VN_TZ)
        truth.statutory[trail.agency, month] += 1
        if published > statutory_due:
            truth.extended[code] = (trail.agency, trail.procedure, month)
        if trail.resolved is not None:
            resolved_at, _, due_at = trail.resolved
            key = (trail.agency, month_key(resolved_at))
            truth.resolved[key] += 1
            truth.on_time[key] += resolved_at <= due_at
            truth.on_time_statutory[key] += resolved_at <= statutory_due
    return truth
