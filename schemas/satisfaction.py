"""Satisfaction ratings given by applicants; subject is the rating id."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Contract, ProcedureCode
from schemas.dossier import Channel
from schemas.envelope import CloudEvent


class SatisfactionRatedData(Contract):
    dossier_code: str | None = Field(default=None, max_length=64)
    procedure_code: ProcedureCode | None = None
    channel: Channel
    score: int = Field(
        strict=True, ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)."
    )


class SatisfactionRated(CloudEvent):
    """An applicant rated the service; 4 and 5 count as satisfied."""

    type: Literal["vn.qms.satisfaction.rated.v1"]
    data: SatisfactionRatedData


SATISFACTION_EVENTS: tuple[type[CloudEvent], ...] = (SatisfactionRated,)
