"""Request bodies of the CAPA API: one per command, each with `expected_version` and `reason`.

Strict: a JSON `true` is not version 1 and `"3"` is not 3 (booleans and strings are not
integers). Dates and enum values still come as JSON strings, so those fields alone are lax.
Every date and time the API reads lies within the contracts' window (`schemas.base`: the
years 2000 to 2099): a date the API takes ends up on a CAPA event, which must be a valid
contract that every consumer can store, and a time of year 9999 with a negative offset does
not even exist in UTC. A date or time is text, never a number read as Unix seconds.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from schemas.base import FIRST_DAY, LAST_DAY, PseudonymousId, Text, Timestamp
from schemas.capa import (
    ElectronicSignature,
    RootCauseCategory,
    RootCauseMethod,
    SignatureMeaning,
    VerificationResult,
)

EARLIEST_YEAR = FIRST_DAY.year
LATEST_YEAR = LAST_DAY.year
MAX_VERSION = 2**31 - 1
# The same window in the OpenAPI document (JSON Schema cannot bound a `format: date`).
_YEAR_PATTERN = r"^20[0-9]{2}-"


def _check_year(year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"year {year} is outside {EARLIEST_YEAR}..{LATEST_YEAR}")


def _year_in_range(value: date) -> date:
    _check_year(value.year)
    return value


def _text(value: Any) -> Any:
    # pydantic's lax date and datetime read a number as Unix seconds: `"due_on": 0` is no date.
    if isinstance(value, str | date):
        return value
    raise ValueError("must be an ISO 8601 string, e.g. '2026-03-01' or '2026-03-01T08:00:00+07:00'")


def _aware_in_range(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give a time zone (e.g. Z or +07:00)")
    _check_year(value.year)
    return value


# JSON strings: lax (strict mode would want Python date objects), and within the window.
CapaDate = Annotated[
    date,
    Strict(False),
    BeforeValidator(_text),
    AfterValidator(_year_in_range),
    Field(json_schema_extra={"pattern": _YEAR_PATTERN + r"[0-9]{2}-[0-9]{2}$"}),
]
CapaMoment = Annotated[
    datetime,
    Strict(False),
    BeforeValidator(_text),
    AfterValidator(_aware_in_range),
    Field(json_schema_extra={"pattern": _YEAR_PATTERN + r".*(Z|z|[+-][0-9]{2}:[0-9]{2})$"}),
]
Method = Annotated[RootCauseMethod, Strict(False)]
Category = Annotated[RootCauseCategory, Strict(False)]
Result = Annotated[VerificationResult, Strict(False)]
Evidence = Annotated[str, Field(min_length=1, max_length=1000)]
Meaning = Annotated[SignatureMeaning, Strict(False)]
# The event contract's window (its bounds hold in UTC, whatever the offset written).
SignedAt = Annotated[Timestamp, Strict(False)]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CommandBody(StrictBody):
    """What every command carries: the version the caller saw, and why."""

    expected_version: int = Field(
        ge=1, le=MAX_VERSION, description="The CAPA version the caller decided on."
    )
    reason: Text = Field(description="Why, in the caller's words; kept on the event.")


class SignatureIn(StrictBody):
    """The decider's Ed25519 signature (`qms capa sign` prints one); see docs/capa.md."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    signer_id: PseudonymousId = Field(description="The caller's user id.")
    meaning: Meaning
    signed_at: SignedAt
    state_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="`state_hash` of the CAPA the decision was made on."
    )
    value: str = Field(pattern=r"^[A-Za-z0-9+/]{86}==$", description="Base64, 64 bytes.")

    def contract(self) -> ElectronicSignature:
        return ElectronicSignature.model_validate(self.model_dump())


class SignedBody(CommandBody):
    """A decision a person signs: verification, closure, cancellation."""

    signature: SignatureIn


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


class VerificationBody(SignedBody):
    result: Result
    verified_on: CapaDate | None = Field(default=None, description="Defaults to today.")
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)


class ClosureBody(SignedBody):
    pass


class CancellationBody(SignedBody):
    justification: Text


class CommandResult(BaseModel):
    """The events a command produced and the CAPA after them."""

    capa_id: str
    version: int
    events: list[dict[str, Any]]
    capa: dict[str, Any]
