"""Request bodies of the CAPA API: one per command, each with `expected_version` and `reason`.

Strict: a JSON `true` is not version 1 and `"3"` is not 3 (booleans and strings are not
integers). Dates and enum values still come as JSON strings, so those fields alone are lax.
Every date and time the API reads lies within `EARLIEST_YEAR`..`LATEST_YEAR`: a date on a
CAPA event must be storable by every consumer (ClickHouse `Date` ends in 2149), and a time
of year 9999 with a negative offset does not even exist in UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from schemas.base import PseudonymousId, Text
from schemas.capa import RootCauseCategory, RootCauseMethod, VerificationResult

EARLIEST_YEAR = 1970
LATEST_YEAR = 2149
MAX_VERSION = 2**31 - 1
# The same window in the OpenAPI document (JSON Schema cannot bound a `format: date`).
_YEAR_PATTERN = r"^(19[7-9][0-9]|20[0-9]{2}|21[0-4][0-9])-"


def _check_year(year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"year {year} is outside {EARLIEST_YEAR}..{LATEST_YEAR}")


def _year_in_range(value: date) -> date:
    _check_year(value.year)
    return value


def _aware_in_range(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give a time zone (e.g. Z or +07:00)")
    _check_year(value.year)
    return value


# JSON strings: lax (strict mode would want Python date objects), and within the window.
CapaDate = Annotated[
    date,
    Strict(False),
    AfterValidator(_year_in_range),
    Field(json_schema_extra={"pattern": _YEAR_PATTERN + r"[0-9]{2}-[0-9]{2}$"}),
]
CapaMoment = Annotated[
    datetime,
    Strict(False),
    AfterValidator(_aware_in_range),
    Field(json_schema_extra={"pattern": _YEAR_PATTERN + r".*(Z|z|[+-][0-9]{2}:[0-9]{2})$"}),
]
Method = Annotated[RootCauseMethod, Strict(False)]
Category = Annotated[RootCauseCategory, Strict(False)]
Result = Annotated[VerificationResult, Strict(False)]
Evidence = Annotated[str, Field(min_length=1, max_length=1000)]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CommandBody(StrictBody):
    """What every command carries: the version the caller saw, and why."""

    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="The CAPA version the caller decided on."
    )
    reason: Text = Field(description="Why, in the caller's words; kept on the event.")


class CorrectionBody(CommandBody):
    correction: Text


class RootCauseBody(CommandBody):
    method: Method
    category: Category
    text: Text


class PlannedActionIn(StrictBody):
    action_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Defaults to A1, A2, … in the order given.",
    )
    description: Text
    owner_id: PseudonymousId
    due_on: CapaDate


class ActionPlanBody(CommandBody):
    actions: list[PlannedActionIn] = Field(min_length=1, max_length=50)


class ActionCompletionBody(CommandBody):
    completed_on: CapaDate | None = Field(default=None, description="Defaults to today.")
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)


class VerificationBody(CommandBody):
    result: Result
    verified_on: CapaDate | None = Field(default=None, description="Defaults to today.")
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)


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
