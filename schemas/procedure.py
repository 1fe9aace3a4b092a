"""The procedure register (danh mục thủ tục hành chính): procedures published, amended, repealed.

The subject is the procedure code; `agencycode` is the agency that keeps the register
(a ministry for a national procedure, a province's People's Committee for its own list).
Each version of a procedure is in force from its `effective_from` until the next
version's or the repeal's: a dossier received at a time when its procedure (in the
version the register held then) was not in force is a nonconformity.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.base import Contract, Day, ProcedureCode, ShortText, Text
from schemas.envelope import CloudEvent


class AgencyLevel(StrEnum):
    """The level of government whose agencies apply a procedure."""

    CENTRAL = "central"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class ProcedureVersionData(Contract):
    """One version of a procedure as the register lists it."""

    procedure_code: ProcedureCode
    version: int = Field(strict=True, ge=1, le=10_000, description="Register version, from 1.")
    name: Text
    statutory_working_days: int = Field(
        strict=True,
        ge=0,
        le=365,
        description="Statutory processing time, in working days from a complete dossier.",
    )
    effective_from: Day = Field(description="First day (local time) this version is in force.")
    levels: list[AgencyLevel] = Field(
        min_length=1, description="The levels of government whose agencies apply it."
    )
    legal_basis: ShortText = Field(
        description="The legal document that publishes or amends it, e.g. 'QĐ 1234/QĐ-UBND'.",
        examples=["QĐ 1234/QĐ-UBND"],
    )


class ProcedureRepealedData(Contract):
    procedure_code: ProcedureCode
    effective_from: Day = Field(description="First day (local time) it is no longer in force.")
    legal_basis: ShortText
    reason: Text | None = None


class ProcedurePublished(CloudEvent):
    """A procedure was published in the register (its version 1, or a later one re-listed)."""

    type: Literal["vn.qms.procedure.published.v1"]
    data: ProcedureVersionData


class ProcedureAmended(CloudEvent):
    """A procedure was amended: a new version (new statutory time, levels or legal basis)."""

    type: Literal["vn.qms.procedure.amended.v1"]
    data: ProcedureVersionData


class ProcedureRepealed(CloudEvent):
    """A procedure was repealed: from its effective date no dossier may be received under it."""

    type: Literal["vn.qms.procedure.repealed.v1"]
    data: ProcedureRepealedData


PROCEDURE_EVENTS: tuple[type[CloudEvent], ...] = (
    ProcedurePublished,
    ProcedureAmended,
    ProcedureRepealed,
)
