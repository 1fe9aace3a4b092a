"""The ground truth of the process control sheets: a plain fold over events.

Written from docs/kpis.md ("The process control sheet"), independently of the metrics
service's SQL, so the two can be compared. Repeated `(source, id)` are dropped and order
of arrival never matters:

- a dossier's steps: per step number, its latest transfer by `time` (ties: `source`,
  `id`); step k starts when the step before it on the sheet was taken over
  (`to_unit_received_at`, else its `time`; never before its `time`), the first step at the
  dossier's earliest `received`; it ends at its hand-over (`time`);
- duration: elapsed hours (negative spans are 0); late: handed over after its stated
  `step_due_at`; overrun: hours past it;
- a late dossier (its first resolution after the due time it carries) lost its time at
  the step with the largest overrun, then the longest, then the earliest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.dossier import DossierReceived, DossierResolved, DossierStepTransferred
from schemas.envelope import CloudEvent
from services.demo.domain.calendar import month_key
from services.demo.domain.deliveries import once_each
from services.demo.domain.truth import Months

# Grouping keys of a step count: any of agency, procedure, step, unit, month (in that order).
StepGroup = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SheetStep:
    """One row of a dossier's sheet."""

    agency: str
    procedure: str
    dossier: str
    step: int
    unit: str
    to_unit: str
    officer: str
    started_at: datetime | None
    handed_over_at: datetime
    taken_over_at: datetime
    step_due_at: datetime | None
    allotted_working_hours: float | None

    @property
    def duration_hours(self) -> float | None:
        return None if self.started_at is None else _hours(self.started_at, self.handed_over_at)

    @property
    def overrun_hours(self) -> float | None:
        return None if self.step_due_at is None else _hours(self.step_due_at, self.handed_over_at)

    @property
    def late(self) -> bool:
        return self.step_due_at is not None and self.handed_over_at > self.step_due_at

    @property
    def month(self) -> str:
        return month_key(self.handed_over_at)

    def key(self, group: StepGroup, month: str | None = None) -> tuple[Any, ...]:
        values = {
            "agency": self.agency,
            "procedure": self.procedure,
            "step": self.step,
            "unit": self.unit,
            "month": month or self.month,
        }
        return tuple(values[g] for g in group)


def _in(month: str, months: Months) -> bool:
    return months is None or months[0] <= month <= months[1]


def _hours(since: datetime, until: datetime) -> float:
    return max(0.0, (until - since).total_seconds() / 3600)


@dataclass
class _Dossier:
    received: list[datetime] = field(default_factory=list)
    resolved: list[DossierResolved] = field(default_factory=list)
    transfers: dict[int, list[DossierStepTransferred]] = field(default_factory=dict)


@dataclass
class SheetTruth:
    """Each dossier's sheet, and the step KPIs of docs/kpis.md over them."""

    sheets: dict[tuple[str, str], list[SheetStep]]
    late_dossiers: dict[tuple[str, str], str]  # (agency, dossier) → month of resolution

    def steps(self) -> Iterable[SheetStep]:
        for sheet in self.sheets.values():
            yield from sheet

    def step_counts(self, group: StepGroup, months: Months = None) -> dict[tuple[Any, ...], Any]:
        """steps, timed_steps, hours_spent, max_hours, steps_with_due, late_steps per group."""
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for s in self.steps():
            if not _in(s.month, months):
                continue
            row = out.setdefault(s.key(group), _empty_steps())
            duration = s.duration_hours
            row["steps"] += 1
            row["steps_with_due"] += s.step_due_at is not None
            row["late_steps"] += s.late
            if duration is not None:
                row["timed_steps"] += 1
                row["hours_spent"] += duration
                row["max_hours"] = max(row["max_hours"] or 0.0, duration)
        return out

    def time_lost_at(self, agency: str, dossier: str) -> SheetStep | None:
        """The step where a late dossier lost its time (None: on time or no step)."""
        sheet = self.sheets.get((agency, dossier))
        if (agency, dossier) not in self.late_dossiers or not sheet:
            return None
        return max(
            sheet,
            key=lambda s: (s.overrun_hours or 0.0, s.duration_hours or 0.0, -s.step),
        )

    def time_lost_counts(
        self, group: StepGroup, months: Months = None
    ) -> dict[tuple[Any, ...], Any]:
        """late_dossiers, overran_dossiers, hours_overrun, step_hours (sum) per group, the
        month being that of the dossier's first resolution."""
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for (agency, dossier), month in self.late_dossiers.items():
            lost = self.time_lost_at(agency, dossier)
            if lost is None or not _in(month, months):
                continue
            row = out.setdefault(
                lost.key(group, month),
                {"late_dossiers": 0, "overran_dossiers": 0, "hours_overrun": 0.0, "step_hours": []},
            )
            row["late_dossiers"] += 1
            row["overran_dossiers"] += (lost.overrun_hours or 0.0) > 0
            row["hours_overrun"] += lost.overrun_hours or 0.0
            if lost.duration_hours is not None:
                row["step_hours"].append(lost.duration_hours)
        return out


def _empty_steps() -> dict[str, Any]:
    return {
        "steps": 0,
        "timed_steps": 0,
        "hours_spent": 0.0,
        "max_hours": None,
        "steps_with_due": 0,
        "late_steps": 0,
    }


def fold_sheets(events: Iterable[CloudEvent]) -> SheetTruth:
    """The sheets of every dossier in `events` (duplicates dropped, any order)."""
    dossiers: dict[tuple[str, str], _Dossier] = defaultdict(_Dossier)
    for event in once_each(events):
        d = dossiers[event.agencycode, event.subject]
        if isinstance(event, DossierReceived):
            d.received.append(event.time)
        elif isinstance(event, DossierResolved):
            d.resolved.append(event)
        elif isinstance(event, DossierStepTransferred):
            d.transfers.setdefault(event.data.step, []).append(event)
    sheets: dict[tuple[str, str], list[SheetStep]] = {}
    late: dict[tuple[str, str], str] = {}
    for (agency, code), d in dossiers.items():
        if d.transfers:
            sheets[agency, code] = _sheet(agency, code, d)
        if d.resolved:
            first = min(d.resolved, key=lambda e: e.time)
            if not first.on_time:
                late[agency, code] = month_key(first.time)
    return SheetTruth(sheets, late)


def _sheet(agency: str, code: str, d: _Dossier) -> list[SheetStep]:
    started = min(d.received) if d.received else None
    rows = []
    for step in sorted(d.transfers):
        t = max(d.transfers[step], key=lambda e: (e.time, e.source, e.id))
        taken = max(t.time, t.data.to_unit_received_at or t.time)
        rows.append(
            SheetStep(
                agency, t.data.procedure_code, code, step, t.data.from_unit, t.data.to_unit,
                t.data.officer_id, started, t.time, taken, t.data.step_due_at,
                t.data.allotted_working_hours,
            )
        )  # fmt: skip
        started = taken
    return rows
