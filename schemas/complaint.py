"""Complaint and feedback (phản ánh, kiến nghị) events; subject is the complaint id."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.base import Contract, ProcedureCode, PseudonymousId, ShortText, StrictBool, Text
from schemas.dossier import Channel
from schemas.envelope import CloudEvent


class ComplaintKind(StrEnum):
    COMPLAINT = "complaint"
    FEEDBACK = "feedback"
    PETITION = "petition"


class ComplaintFiledData(Contract):
    kind: ComplaintKind
    channel: Channel
    category: ShortText = Field(examples=["processing_delay"])
    procedure_code: ProcedureCode | None = None
    dossier_code: str | None = Field(default=None, max_length=64)
    complainant_id: PseudonymousId


class ComplaintAcknowledgedData(Contract):
    officer_id: PseudonymousId


class ComplaintResolvedData(Contract):
    substantiated: StrictBool = Field(description="True when the complaint was found justified.")
    resolution: Text
    officer_id: PseudonymousId
    procedure_code: ProcedureCode | None = None


class ComplaintWithdrawnData(Contract):
    reason: Text


class ComplaintFiled(CloudEvent):
    """A citizen or business filed a complaint or feedback."""

    type: Literal["vn.qms.complaint.filed.v1"]
    data: ComplaintFiledData


class ComplaintAcknowledged(CloudEvent):
    """The agency acknowledged the complaint."""

    type: Literal["vn.qms.complaint.acknowledged.v1"]
    data: ComplaintAcknowledgedData


class ComplaintResolved(CloudEvent):
    """The agency answered the complaint, substantiated or not."""

    type: Literal["vn.qms.complaint.resolved.v1"]
    data: ComplaintResolvedData


class ComplaintWithdrawn(CloudEvent):
    """The complainant withdrew the complaint."""

    type: Literal["vn.qms.complaint.withdrawn.v1"]
    data: ComplaintWithdrawnData


COMPLAINT_EVENTS: tuple[type[CloudEvent], ...] = (
    ComplaintFiled,
    ComplaintAcknowledged,
    ComplaintResolved,
    ComplaintWithdrawn,
)
