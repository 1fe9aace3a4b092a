"""Building blocks shared by every event contract: identifiers, timestamps, the base model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field


class AgencyField:
    """Marks a field that names an agency: the scope of a credential must cover its value.

    Intake finds every such field by walking the models (`schemas.agencies`), so a new
    agency field in any family is scope-checked without a list to keep up to date.
    """

    def __repr__(self) -> str:
        return "AgencyField()"


AGENCY_FIELD = AgencyField()

# Codes are what agencies already use on their process control sheets; the patterns only
# refuse what can never be a code (spaces, e-mail addresses, control characters).
AgencyCode = Annotated[
    str,
    Field(
        strict=True,
        pattern=r"^[A-Z0-9][A-Z0-9._-]{1,31}$",
        description="Agency code (mã định danh), upper case, e.g. 'H56.01'.",
        examples=["H56.01"],
    ),
    AGENCY_FIELD,
]
ProcedureCode = Annotated[
    str,
    Field(
        pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$",
        description="Administrative procedure (TTHC) code from the national database.",
        examples=["1.001612.000.00.00.H56"],
    ),
]
PseudonymousId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{3,63}$",
        description="Pseudonymous id of a person (applicant, officer, auditor). Never a name, "
        "e-mail address or citizen id number: no personal data travels.",
        examples=["officer-7f3a9c21"],
    ),
]
IsoClause = Annotated[
    str,
    Field(
        pattern=r"^(4|5|6|7|8|9|10)(\.[0-9]{1,2}){0,3}$",
        description="ISO 9001:2015 clause, e.g. '8.5.1' or '10.2'.",
        examples=["8.5.1"],
    ),
]
Text = Annotated[str, Field(strict=True, min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(strict=True, min_length=1, max_length=200)]

# The window of every time and date an event may carry: the years 2000 to 2099, for a time
# in whatever real-world offset it is written (-12:00 to +14:00), so the bounds are the
# first instant of 2000 at +14:00 and the last of 2099 at -12:00. It reaches back far
# enough for the backfill of any one-stop-shop history and forward past any statutory due
# date, and every store holds all of it: ClickHouse `Date` ends in 2149, `DateTime64`
# spans 1900-2299, and the views shift times by Vietnam's +07:00 without leaving either.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=14)))
LATEST_TIME = datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-12)))
WINDOW_REASON = (
    f"must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()} "
    f"(times: from {EARLIEST_TIME.isoformat()} to {LATEST_TIME.isoformat()})"
)


def _written_as_time(value: Any) -> Any:
    # pydantic's lax datetime also reads a number, or a string of digits, as Unix seconds;
    # a time travels as RFC 3339 text (or a datetime, when a service builds an event).
    if isinstance(value, datetime) or (isinstance(value, str) and value[4:5] == "-"):
        return value
    raise ValueError("must be an RFC 3339 date-time string, e.g. '2025-03-01T08:15:00+07:00'")


def _written_as_date(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and value[4:5] == "-"):
        return value
    raise ValueError("must be an ISO 8601 date string, e.g. '2025-03-01'")


# The bounds come before the shape check, so pydantic-core compares in Rust.
Timestamp = Annotated[
    AwareDatetime,
    Field(
        ge=EARLIEST_TIME,
        le=LATEST_TIME,
        description=f"RFC 3339 with a time zone; {WINDOW_REASON}.",
    ),
    BeforeValidator(_written_as_time),
]
Day = Annotated[
    date,
    Field(ge=FIRST_DAY, le=LAST_DAY, description=f"ISO 8601 date; {WINDOW_REASON}."),
    BeforeValidator(_written_as_date),
]

# Integers and floats are strict: `true` is not 1 and `"5"` is not 5. Counts fit the UInt32
# columns they are stored in; floats must be finite (JSON has no NaN or Infinity, and a
# literal such as 1e999 overflows to infinity).
UINT32_MAX = 2**32 - 1
Count = Annotated[int, Field(strict=True, ge=0, le=UINT32_MAX)]
StrictBool = Annotated[bool, Field(strict=True)]
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Contract(BaseModel):
    """Immutable contract model.

    Consumers ignore fields they do not know (a newer minor version may add optional
    fields); intake looks for unknown fields with `unknown_fields` so that a publisher's
    typo is refused instead of silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


def unknown_fields(model: type[BaseModel], raw: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of the keys in `raw` that `model` (or a nested contract) does not know."""
    if not isinstance(raw, dict):
        return
    for key, value in raw.items():
        field = model.model_fields.get(str(key))
        if field is None:
            yield f"{path}{key}"
            continue
        for nested, nested_raw, suffix in _nested_contracts(field.annotation, value):
            yield from unknown_fields(nested, nested_raw, f"{path}{key}{suffix}.")


def _nested_contracts(annotation: Any, value: Any) -> Iterator[tuple[type[BaseModel], Any, str]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, value, ""
    elif get_origin(annotation) is list and isinstance(value, list):
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            for index, element in enumerate(value):
                yield item, element, f".{index}"
