"""Commands: what someone asks of a CAPA, in the imperative (ISO 9001:2015 §10.2 wording).

Every command says who (actor and role), why (reason), when (`at`) and, when it comes from
a person, which version of the CAPA they saw (`expected_version`, optimistic concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from schemas.audit import FindingClassification
from schemas.capa import (
    ElectronicSignature,
    NonconformitySource,
    PlannedAction,
    RootCauseCategory,
    RootCauseMethod,
    Severity,
    SourceReference,
    VerificationResult,
)
from services.capa.domain.transitions import CommandName


@dataclass(frozen=True, kw_only=True)
class Command:
    """Fields every command carries."""

    name: ClassVar[CommandName]

    capa_id: str
    actor_id: str
    actor_role: str
    at: datetime
    reason: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class OpenCapa(Command):
    """Open a CAPA for a nonconformity; for an existing CAPA, link the new occurrence."""

    name: ClassVar[CommandName] = CommandName.OPEN_CAPA

    source: NonconformitySource
    reference: SourceReference
    agency: str
    process: str
    severity: Severity
    description: str
    owner_id: str
    correction_due_on: date
    closure_due_on: date
    procedure_code: str | None = None
    classification: FindingClassification | None = None
    iso_clause: str | None = None
    period: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordCorrection(Command):
    """Record the immediate correction (the reaction that contains the nonconformity)."""

    name: ClassVar[CommandName] = CommandName.RECORD_CORRECTION

    correction: str


@dataclass(frozen=True, kw_only=True)
class RecordRootCause(Command):
    """Record the root cause found by a named method, in one category."""

    name: ClassVar[CommandName] = CommandName.RECORD_ROOT_CAUSE

    method: RootCauseMethod
    category: RootCauseCategory
    text: str


@dataclass(frozen=True, kw_only=True)
class PlanActions(Command):
    """Plan the corrective actions, each with an owner and a due date."""

    name: ClassVar[CommandName] = CommandName.PLAN_ACTIONS

    actions: tuple[PlannedAction, ...]


@dataclass(frozen=True, kw_only=True)
class CompleteAction(Command):
    """Report one planned action done, with evidence references."""

    name: ClassVar[CommandName] = CommandName.COMPLETE_ACTION

    action_id: str
    completed_on: date | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VerifyEffectiveness(Command):
    """Check whether the actions worked; ineffective reopens the CAPA for a new plan."""

    name: ClassVar[CommandName] = CommandName.VERIFY_EFFECTIVENESS

    result: VerificationResult
    verified_on: date | None = None
    evidence: tuple[str, ...] = ()
    signature: ElectronicSignature | None = None


@dataclass(frozen=True, kw_only=True)
class CloseCapa(Command):
    """Close a CAPA whose actions were verified effective."""

    name: ClassVar[CommandName] = CommandName.CLOSE

    signature: ElectronicSignature | None = None


@dataclass(frozen=True, kw_only=True)
class CancelCapa(Command):
    """Cancel a CAPA (an ISO secretary, with a justification)."""

    name: ClassVar[CommandName] = CommandName.CANCEL

    justification: str
    signature: ElectronicSignature | None = None


SignedCommand = VerifyEffectiveness | CloseCapa | CancelCapa
"""The decisions a person signs (services/capa/domain/signatures.py)."""


@dataclass(frozen=True, kw_only=True)
class EscalateOverdue(Command):
    """Escalate every due date that passed before `today` and was not escalated yet."""

    name: ClassVar[CommandName] = CommandName.ESCALATE

    today: date


@dataclass(frozen=True, kw_only=True)
class FlagRecurrence(Command):
    """Flag that this nonconformity recurred: same agency, process and root-cause category."""

    name: ClassVar[CommandName] = CommandName.FLAG_RECURRENCE

    earlier_capa_id: str
    category: RootCauseCategory


@dataclass(frozen=True, kw_only=True)
class RecordEffectivenessMeasurement(Command):
    """Record what the nonconformity's measure did over a window after the actions were done;
    `reopen_if_ineffective` is the policy's word on a CAPA that measured ineffective."""

    name: ClassVar[CommandName] = CommandName.RECORD_EFFECTIVENESS_MEASUREMENT

    measurement_id: str
    measure: str
    window_start: datetime
    window_days: int
    threshold: int
    value: int
    reopen_if_ineffective: bool = False


COMMAND_TYPES: tuple[type[Command], ...] = (
    OpenCapa,
    RecordCorrection,
    RecordRootCause,
    PlanActions,
    CompleteAction,
    VerifyEffectiveness,
    CloseCapa,
    CancelCapa,
    EscalateOverdue,
    FlagRecurrence,
    RecordEffectivenessMeasurement,
)
COMMANDS_BY_NAME: dict[CommandName, type[Command]] = {c.name: c for c in COMMAND_TYPES}
