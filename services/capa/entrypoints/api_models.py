"""Request bodies of the CAPA API: one per command, each with `expected_version` and `reason`."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import PseudonymousId, Text
from schemas.capa import RootCauseCategory, RootCauseMethod, VerificationResult


class CommandBody(BaseModel):
    """What every command carries: the version the caller saw, and why."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=1, description="The CAPA version the caller decided on.")
    reason: Text = Field(description="Why, in the caller's words; kept on the event.")


class CorrectionBody(CommandBody):
    correction: Text


class RootCauseBody(CommandBody):
    method: RootCauseMethod
    category: RootCauseCategory
    text: Text


class PlannedActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Defaults to A1, A2, … in the order given.",
    )
    description: Text
    owner_id: PseudonymousId
    due_on: date


class ActionPlanBody(CommandBody):
    actions: list[PlannedActionIn] = Field(min_length=1, max_length=50)


class ActionCompletionBody(CommandBody):
    completed_on: date | None = Field(default=None, description="Defaults to today.")
    evidence: list[str] = Field(default_factory=list, max_length=50)


class VerificationBody(CommandBody):
    result: VerificationResult
    verified_on: date | None = Field(default=None, description="Defaults to today.")
    evidence: list[str] = Field(default_factory=list, max_length=50)


class ClosureBody(CommandBody):
    pass


class CancellationBody(CommandBody):
    justification: Text


class CommandResult(BaseModel):
    """The events a command produced and the CAPA after them."""

    capa_id: str
    version: int
    events: list[dict[str, Any]]
    capa: dict[str, Any]
