"""Request bodies are strict: a boolean or a string is not a version; dates stay in range."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from services.capa.entrypoints.api_models import (
    ActionPlanBody,
    CapaMoment,
    ClosureBody,
    CorrectionBody,
    RootCauseBody,
    VerificationBody,
)

pytestmark = pytest.mark.unit

MOMENT = TypeAdapter(CapaMoment)
SIGNATURE = (
    '"signature": {"signer_id": "auditor-0009", "meaning": "verified_effective", '
    f'"signed_at": "2026-03-02T08:00:00Z", "state_hash": "{"0" * 64}", "value": "{"A" * 86}=="}}'
)


def from_json(model: Any, text: str) -> Any:
    """As FastAPI does: JSON parsed first, then validated as Python data."""
    return model.model_validate(json.loads(text))


def refused_fields(model: Any, text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        from_json(model, text)
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


@pytest.mark.parametrize("version", ["true", "false", '"1"', "1.0", "0", "2147483648"])
def test_expected_version_must_be_a_positive_json_integer(version: str) -> None:
    text = f'{{"expected_version": {version}, "reason": "r", "correction": "c"}}'
    assert refused_fields(CorrectionBody, text) == ["expected_version"]


def test_a_plain_integer_version_is_taken() -> None:
    body = from_json(CorrectionBody, '{"expected_version": 3, "reason": "r", "correction": "c"}')
    assert body.expected_version == 3


def test_dates_and_enum_values_come_as_json_strings() -> None:
    plan = from_json(
        ActionPlanBody,
        '{"expected_version": 1, "reason": "r", "actions": [{"description": "d", '
        '"owner_id": "officer-1111", "due_on": "2026-04-01"}]}',
    )
    assert plan.actions[0].due_on.isoformat() == "2026-04-01"
    cause = from_json(
        RootCauseBody,
        '{"expected_version": 1, "reason": "r", "method": "five_whys", "category": "process", '
        '"text": "t"}',
    )
    assert cause.method.value == "five_whys"


@pytest.mark.parametrize(
    "day", ["0001-01-01", "0999-12-31", "9999-12-31", "2150-01-01", "1999-12-31", "2100-01-01"]
)
def test_dates_outside_the_window_name_the_field(day: str) -> None:
    text = (
        f'{{"expected_version": 1, "reason": "r", "result": "effective", "verified_on": "{day}", '
        f"{SIGNATURE}}}"
    )
    assert refused_fields(VerificationBody, text) == ["verified_on"]


@pytest.mark.parametrize(
    "moment",
    ["9999-12-31T23:59:59-07:00", "0999-01-01T00:00:00Z", "0001-01-01T00:00:00+08:00"],
)
def test_moments_at_the_edges_of_the_calendar_are_refused(moment: str) -> None:
    with pytest.raises(ValidationError, match="outside"):
        MOMENT.validate_python(moment)


def test_a_moment_needs_its_offset() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        MOMENT.validate_python("2026-03-05T00:00:00")
    assert MOMENT.validate_python("2099-12-31T23:59:59-07:00").year == 2099


@pytest.mark.parametrize("number", [0, 1_700_000_000, 1.5])
def test_a_date_is_text_never_unix_seconds(number: float) -> None:
    text = (
        f'{{"expected_version": 1, "reason": "r", "result": "effective", "verified_on": {number}, '
        f"{SIGNATURE}}}"
    )
    assert refused_fields(VerificationBody, text) == ["verified_on"]


def test_the_openapi_pattern_states_the_contracts_window() -> None:
    import re

    from schemas.base import FIRST_DAY, LAST_DAY
    from services.capa.entrypoints.api_models import _YEAR_PATTERN

    for year, admitted in [
        (FIRST_DAY.year - 1, False),
        (FIRST_DAY.year, True),
        (LAST_DAY.year, True),
        (LAST_DAY.year + 1, False),
    ]:
        assert bool(re.match(_YEAR_PATTERN, f"{year:04d}-01-01")) is admitted, year


def test_a_decision_without_a_signature_names_the_field() -> None:
    text = '{"expected_version": 1, "reason": "r", "result": "effective"}'
    assert refused_fields(VerificationBody, text) == ["signature"]


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("meaning", '"approved"'),
        ("signed_at", '"2026-03-02T08:00:00"'),
        ("state_hash", '"abc"'),
        ("value", '"not base64"'),
    ],
)
def test_a_malformed_signature_names_its_member(member: str, value: str) -> None:
    document = json.loads(f"{{{SIGNATURE}}}")["signature"]
    document[member] = json.loads(value)
    body = {"expected_version": 1, "reason": "r", "signature": document}
    assert refused_fields(ClosureBody, json.dumps(body)) == [f"signature.{member}"]
