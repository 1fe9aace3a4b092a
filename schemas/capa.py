"""The CAPA service's own events: one corrective action's whole life (ISO 9001:2015 §10.2).

The subject is the CAPA id. Every event records who did it, in which role and why, and its
position in the CAPA's stream (`sequence`, 1-based, gap-free).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.audit import FindingClassification
from schemas.base import (
    UINT32_MAX,
    AgencyCode,
    Contract,
    Day,
    IsoClause,
    ProcedureCode,
    PseudonymousId,
    ShortText,
    Text,
    Timestamp,
)
from schemas.envelope import CloudEvent


class NonconformitySource(StrEnum):
    AUDIT_FINDING = "audit_finding"
    INSPECTION_FINDING = "inspection_finding"
    COMPLAINT = "complaint"
    LATE_DOSSIERS = "late_dossiers"
    MISSED_OBJECTIVE = "missed_objective"
    MANUAL = "manual"
    # Measured nonconformities: found by the metrics service over the whole store.
    PROCEDURE_NOT_IN_FORCE = "procedure_not_in_force"
    EXTENDED_DUE_DATES = "extended_due_dates"
    PROCESS_NOT_REVISED = "process_not_revised"


class Severity(StrEnum):
    MAJOR = "major"
    MINOR = "minor"


class RootCauseMethod(StrEnum):
    FIVE_WHYS = "five_whys"
    FISHBONE = "fishbone"
    FAULT_TREE = "fault_tree"
    OTHER = "other"


class RootCauseCategory(StrEnum):
    PEOPLE = "people"
    PROCESS = "process"
    IT_SYSTEM = "it_system"
    DOCUMENTATION = "documentation"
    RESOURCES = "resources"
    EXTERNAL = "external"


class VerificationResult(StrEnum):
    EFFECTIVE = "effective"
    INEFFECTIVE = "ineffective"


class MeasuredEffectiveness(StrEnum):
    """What following the nonconformity's own measure after the actions says (§10.2.1 d)."""

    EFFECTIVE = "effective_by_measurement"
    INEFFECTIVE = "ineffective_by_measurement"


class SignatureMeaning(StrEnum):
    """What a person attests by signing a decision (21 CFR Part 11 §11.50 (a)(3))."""

    VERIFIED_EFFECTIVE = "verified_effective"
    VERIFIED_INEFFECTIVE = "verified_ineffective"
    APPROVED_CLOSURE = "approved_closure"
    APPROVED_CANCELLATION = "approved_cancellation"


class ElectronicSignature(Contract):
    """A person's Ed25519 signature over one decision on one exact state of a CAPA.

    The signed bytes bind the CAPA id, `state_hash`, the decision (command and fields), the
    meaning, the signer and the signing time (services/capa/domain/signatures.py).
    """

    algorithm: Literal["Ed25519"] = "Ed25519"
    signer_id: PseudonymousId = Field(description="Who signed: the deciding user.")
    meaning: SignatureMeaning
    signed_at: Timestamp
    state_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the CAPA state the decision was made on.",
    )
    value: str = Field(
        pattern=r"^[A-Za-z0-9+/]{86}==$", description="The Ed25519 signature, base64 (64 bytes)."
    )


class SourceReference(Contract):
    """The event that revealed the nonconformity."""

    source: str = Field(min_length=1, max_length=256, description="CloudEvents source.")
    id: str = Field(min_length=1, max_length=128, description="CloudEvents id.")
    subject: str = Field(min_length=1, max_length=64)


_SIGNATURE = "The decider's signature; absent on decisions recorded before signing."


class CapaEventData(Contract):
    sequence: int = Field(
        strict=True, ge=1, le=UINT32_MAX, description="Position in this CAPA's stream, gap-free."
    )
    actor_id: PseudonymousId = Field(description="Who did it (a user or 'system:policy').")
    actor_role: ShortText
    reason: Text | None = Field(default=None, description="Why, in the actor's words.")


class PlannedAction(Contract):
    action_id: str = Field(min_length=1, max_length=64)
    description: Text
    owner_id: PseudonymousId
    due_on: Day


class CapaOpenedData(CapaEventData):
    source: NonconformitySource
    references: list[SourceReference] = Field(default_factory=list, max_length=1000)
    agency: AgencyCode
    process: ShortText
    procedure_code: ProcedureCode | None = None
    classification: FindingClassification | None = None
    severity: Severity
    iso_clause: IsoClause | None = None
    description: Text
    owner_id: PseudonymousId
    correction_due_on: Day
    closure_due_on: Day
    period: str | None = Field(default=None, max_length=16)


class CapaNonconformityLinkedData(CapaEventData):
    reference: SourceReference


class CapaCorrectionRecordedData(CapaEventData):
    correction: Text


class CapaRootCauseRecordedData(CapaEventData):
    method: RootCauseMethod
    category: RootCauseCategory
    text: Text


class CapaActionsPlannedData(CapaEventData):
    actions: list[PlannedAction] = Field(min_length=1, max_length=50)


class CapaActionCompletedData(CapaEventData):
    action_id: str = Field(min_length=1, max_length=64)
    completed_on: Day
    evidence: list[str] = Field(default_factory=list, max_length=50)


class CapaEffectivenessVerifiedData(CapaEventData):
    result: VerificationResult
    verified_on: Day
    evidence: list[str] = Field(default_factory=list, max_length=50)
    signature: ElectronicSignature | None = Field(default=None, description=_SIGNATURE)


class CapaEffectivenessMeasuredData(CapaEventData):
    measurement_id: str = Field(
        min_length=1, max_length=64, description="One per CAPA, measure and window."
    )
    measure: ShortText = Field(description="The measure followed, e.g. `late_dossiers`.")
    window_start: Timestamp = Field(description="When the last planned action was done.")
    window_end: Timestamp
    threshold: int = Field(ge=0, le=UINT32_MAX, description="The most the window tolerates.")
    value: int = Field(ge=0, le=UINT32_MAX, description="What the window measured.")
    verdict: MeasuredEffectiveness


class CapaClosedData(CapaEventData):
    closed_on: Day
    signature: ElectronicSignature | None = Field(default=None, description=_SIGNATURE)


class CapaReopenedData(CapaEventData):
    pass


class CapaCancelledData(CapaEventData):
    justification: Text
    signature: ElectronicSignature | None = Field(default=None, description=_SIGNATURE)


class CapaEscalatedData(CapaEventData):
    overdue_since: Day
    escalated_to: ShortText


class CapaRecurrenceFlaggedData(CapaEventData):
    earlier_capa_id: str = Field(min_length=1, max_length=64)
    root_cause_category: RootCauseCategory


class CapaOpened(CloudEvent):
    """A nonconformity was recorded and a corrective action opened."""

    type: Literal["vn.qms.capa.opened.v1"]
    data: CapaOpenedData


class CapaNonconformityLinked(CloudEvent):
    """Another occurrence of the same nonconformity was linked to an open CAPA."""

    type: Literal["vn.qms.capa.nonconformity_linked.v1"]
    data: CapaNonconformityLinkedData


class CapaCorrectionRecorded(CloudEvent):
    """The immediate correction (reaction to the nonconformity) was recorded."""

    type: Literal["vn.qms.capa.correction_recorded.v1"]
    data: CapaCorrectionRecordedData


class CapaRootCauseRecorded(CloudEvent):
    """The root cause was determined."""

    type: Literal["vn.qms.capa.root_cause_recorded.v1"]
    data: CapaRootCauseRecordedData


class CapaActionsPlanned(CloudEvent):
    """Corrective actions were planned with owners and due dates."""

    type: Literal["vn.qms.capa.actions_planned.v1"]
    data: CapaActionsPlannedData


class CapaActionCompleted(CloudEvent):
    """One planned action was completed, with evidence."""

    type: Literal["vn.qms.capa.action_completed.v1"]
    data: CapaActionCompletedData


class CapaEffectivenessVerified(CloudEvent):
    """Someone other than the implementers checked whether the actions worked."""

    type: Literal["vn.qms.capa.effectiveness_verified.v1"]
    data: CapaEffectivenessVerifiedData


class CapaEffectivenessMeasured(CloudEvent):
    """The nonconformity's measure was followed over a window after the actions completed."""

    type: Literal["vn.qms.capa.effectiveness_measured.v1"]
    data: CapaEffectivenessMeasuredData


class CapaClosed(CloudEvent):
    """The CAPA was closed after an effective verification."""

    type: Literal["vn.qms.capa.closed.v1"]
    data: CapaClosedData


class CapaReopened(CloudEvent):
    """The actions proved ineffective; the CAPA needs a new plan."""

    type: Literal["vn.qms.capa.reopened.v1"]
    data: CapaReopenedData


class CapaCancelled(CloudEvent):
    """An ISO secretary cancelled the CAPA, with a justification."""

    type: Literal["vn.qms.capa.cancelled.v1"]
    data: CapaCancelledData


class CapaEscalated(CloudEvent):
    """The CAPA went past a due date and was escalated."""

    type: Literal["vn.qms.capa.escalated.v1"]
    data: CapaEscalatedData


class CapaRecurrenceFlagged(CloudEvent):
    """The same agency, process and root-cause category recurred within twelve months."""

    type: Literal["vn.qms.capa.recurrence_flagged.v1"]
    data: CapaRecurrenceFlaggedData


CAPA_EVENTS: tuple[type[CloudEvent], ...] = (
    CapaOpened,
    CapaNonconformityLinked,
    CapaCorrectionRecorded,
    CapaRootCauseRecorded,
    CapaActionsPlanned,
    CapaActionCompleted,
    CapaEffectivenessVerified,
    CapaClosed,
    CapaReopened,
    CapaCancelled,
    CapaEscalated,
    CapaRecurrenceFlagged,
    CapaEffectivenessMeasured,
)
