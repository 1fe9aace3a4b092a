"""Building blocks shared by every event contract: identifiers, timestamps, the base model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Codes are what agencies already use on their process control sheets; the patterns only
# refuse what can never be a code (spaces, e-mail addresses, control characters).
AgencyCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z0-9][A-Z0-9._-]{1,31}$",
        description="Agency code (mã định danh), upper case, e.g. 'H56.01'.",
        examples=["H56.01"],
    ),
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
Text = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Timestamp = AwareDatetime


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
