"""Dossier (hồ sơ) events: the life of one citizen dossier on its process control sheet.

The subject of every dossier event is the dossier code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from schemas.base import (
    Contract,
    FiniteFloat,
    ProcedureCode,
    PseudonymousId,
    ShortText,
    Text,
    Timestamp,
)
from schemas.envelope import CloudEvent


class Channel(StrEnum):
    """How the dossier was submitted."""

    COUNTER = "counter"
    ONLINE = "online"
    POSTAL = "postal"


class Outcome(StrEnum):
    """What the agency decided."""

    APPROVED = "approved"
    REFUSED = "refused"


class DossierReceivedData(Contract):
    procedure_code: ProcedureCode
    channel: Channel
    online_level: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=4,
        description="Online public-service level (1-4); required for online dossiers.",
    )
    due_at: Timestamp = Field(description="Statutory due time of the result.")
    applicant_id: PseudonymousId
    officer_id: PseudonymousId | None = None
    procedure_version: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=10_000,
        description=(
            "The procedure register's version the dossier was received under, when the "
            "one-stop-shop software states it; another than the version in force is a "
            "nonconformity."
        ),
    )

    @model_validator(mode="after")
    def _online_dossiers_state_their_level(self) -> DossierReceivedData:
        if self.channel is Channel.ONLINE and self.online_level is None:
            raise ValueError("online_level is required when channel is 'online'")
        return self


class DossierStepTransferredData(Contract):
    procedure_code: ProcedureCode
    step: int = Field(
        strict=True, ge=1, le=100, description="Step number on the process control sheet."
    )
    from_unit: ShortText
    to_unit: ShortText
    officer_id: PseudonymousId = Field(description="The officer who handed the dossier over.")
    step_due_at: Timestamp | None = Field(
        default=None, description="When this step (held by from_unit) had to be handed over."
    )
    allotted_working_hours: FiniteFloat | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="Working hours the process allots to this step, as the publisher states it.",
    )
    to_unit_received_at: Timestamp | None = Field(
        default=None,
        description="When to_unit took the dossier over, if later than the handover (`time`).",
    )


class DossierSupplementRequestedData(Contract):
    procedure_code: ProcedureCode
    reason: Text
    officer_id: PseudonymousId


class DossierSupplementReceivedData(Contract):
    procedure_code: ProcedureCode
    new_due_at: Timestamp = Field(
        description="Due time restarted by the complete supplement (statutory time counts anew)."
    )


class DossierResolvedData(Contract):
    procedure_code: ProcedureCode
    outcome: Outcome
    received_at: Timestamp = Field(description="When the dossier was received.")
    due_at: Timestamp = Field(description="Due time in force at resolution.")
    officer_id: PseudonymousId | None = None


class DossierResultReturnedData(Contract):
    procedure_code: ProcedureCode
    channel: Channel


class DossierWithdrawnData(Contract):
    procedure_code: ProcedureCode
    reason: Text


class DossierApologyIssuedData(Contract):
    procedure_code: ProcedureCode
    new_due_at: Timestamp = Field(description="Due time promised in the apology letter.")
    reason: Text


class DossierReceived(CloudEvent):
    """A dossier was received at the counter, by post or online."""

    type: Literal["vn.qms.dossier.received.v1"]
    data: DossierReceivedData


class DossierStepTransferred(CloudEvent):
    """A dossier moved to the next step of its process control sheet."""

    type: Literal["vn.qms.dossier.step_transferred.v1"]
    data: DossierStepTransferredData


class DossierSupplementRequested(CloudEvent):
    """The agency asked the applicant to supplement the dossier (the clock stops)."""

    type: Literal["vn.qms.dossier.supplement_requested.v1"]
    data: DossierSupplementRequestedData


class DossierSupplementReceived(CloudEvent):
    """The applicant supplied what was missing (the clock restarts)."""

    type: Literal["vn.qms.dossier.supplement_received.v1"]
    data: DossierSupplementReceivedData


def resolved_on_time(resolved_at: datetime, due_at: datetime) -> bool:
    """The on-time rule: resolved up to and including the due time in force, not after."""
    return resolved_at <= due_at


class DossierResolved(CloudEvent):
    """The agency resolved the dossier (approved or refused)."""

    type: Literal["vn.qms.dossier.resolved.v1"]
    data: DossierResolvedData

    @property
    def on_time(self) -> bool:
        """Resolved by the due time in force, which `data.due_at` carries (docs/kpis.md);
        the metrics service's SQL form of the rule is `kpi_catalogue.ON_TIME_SQL`."""
        return resolved_on_time(self.time, self.data.due_at)


class DossierResultReturned(CloudEvent):
    """The result was handed back to the applicant."""

    type: Literal["vn.qms.dossier.result_returned.v1"]
    data: DossierResultReturnedData


class DossierWithdrawn(CloudEvent):
    """The applicant withdrew the dossier."""

    type: Literal["vn.qms.dossier.withdrawn.v1"]
    data: DossierWithdrawnData


class DossierApologyIssued(CloudEvent):
    """The agency issued an apology letter for a late dossier, with a new due time."""

    type: Literal["vn.qms.dossier.apology_issued.v1"]
    data: DossierApologyIssuedData


DOSSIER_EVENTS: tuple[type[CloudEvent], ...] = (
    DossierReceived,
    DossierStepTransferred,
    DossierSupplementRequested,
    DossierSupplementReceived,
    DossierResolved,
    DossierResultReturned,
    DossierWithdrawn,
    DossierApologyIssued,
)
