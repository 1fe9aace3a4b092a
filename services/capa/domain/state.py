"""A CAPA's current state: what the fold of its events says, plus what is derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from schemas.audit import FindingClassification
from schemas.capa import (
    MeasuredEffectiveness,
    NonconformitySource,
    RootCauseCategory,
    RootCauseMethod,
    Severity,
    SourceReference,
    VerificationResult,
)
from services.capa.domain.overdue import FINISHED, DueDate, running_kinds
from services.capa.domain.transitions import Status

# Vietnamese public administration counts days and months in Indochina Time (UTC+7, no DST).
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")


def local_date(moment: datetime) -> date:
    """The calendar day of `moment` in Vietnam."""
    return moment.astimezone(LOCAL_TIME).date()


@dataclass(frozen=True)
class RootCause:
    method: RootCauseMethod
    category: RootCauseCategory
    text: str
    recorded_at: datetime


@dataclass(frozen=True)
class Action:
    action_id: str
    description: str
    owner_id: str
    due_on: date
    completed_on: date | None = None
    completed_by: str | None = None
    evidence: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.completed_on is not None


@dataclass(frozen=True)
class Verification:
    verifier_id: str
    result: VerificationResult
    verified_on: date
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Measurement:
    """An effectiveness check on the stream (`effectiveness.py`), beside the verifications."""

    measurement_id: str
    measure: str
    window_start: datetime
    window_end: datetime
    threshold: int
    value: int
    verdict: MeasuredEffectiveness


@dataclass(frozen=True, kw_only=True)
class CapaState:
    capa_id: str
    version: int
    status: Status
    source: NonconformitySource
    references: tuple[SourceReference, ...]
    agency: str
    process: str
    procedure_code: str | None
    classification: FindingClassification | None
    severity: Severity
    iso_clause: str | None
    description: str
    owner_id: str
    correction_due_on: date
    closure_due_on: date
    period: str | None
    opened_at: datetime
    updated_at: datetime
    correction: str | None = None
    root_cause: RootCause | None = None
    actions: tuple[Action, ...] = ()
    plan_rounds: int = 0
    verifications: tuple[Verification, ...] = ()
    closed_on: date | None = None
    cancellation: str | None = None
    escalated_due_dates: tuple[date, ...] = ()
    recurrence_of: tuple[str, ...] = ()
    # When the last action of the current plan was done: where a measurement window starts.
    actions_completed_at: datetime | None = None
    measurements: tuple[Measurement, ...] = ()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def pending_due_dates(self) -> list[date]:
        """Due dates still running, as `overdue.OVERDUE_RULE` says for the status."""
        dates: list[date] = []
        for kind in running_kinds(self.status):
            if kind is DueDate.CORRECTION:
                dates.append(self.correction_due_on)
            elif kind is DueDate.ACTION:
                dates += [a.due_on for a in self.actions if not a.done]
            else:
                dates.append(self.closure_due_on)
        return sorted(set(dates))

    def overdue_since(self, today: date) -> date | None:
        """The earliest running due date before `today`, or None when nothing is overdue."""
        passed = [d for d in self.pending_due_dates() if d < today]
        return passed[0] if passed else None

    def is_overdue(self, today: date) -> bool:
        return self.overdue_since(today) is not None

    def due_dates_to_escalate(self, today: date) -> list[date]:
        """Passed due dates not escalated yet: each due date is escalated once."""
        return [
            d for d in self.pending_due_dates() if d < today and d not in self.escalated_due_dates
        ]

    def implementers(self) -> frozenset[str]:
        """Owners of the current actions and whoever reported them done."""
        owners = {a.owner_id for a in self.actions}
        owners |= {a.completed_by for a in self.actions if a.completed_by}
        return frozenset(owners)

    def involves(self, user_id: str) -> bool:
        """True when the user owns the CAPA or one of its actions (the `mine` filter)."""
        return self.owner_id == user_id or any(a.owner_id == user_id for a in self.actions)
