"""The contracts refuse every value the stores cannot hold: times, dates, counts, floats, types."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, Field

from schemas import EVENT_TYPES, EventValidationError, FieldError, parse_event
from schemas.agencies import agency_codes, agency_paths, agency_values
from schemas.base import AgencyCode, Contract
from services.intake.entrypoints.examples import EXAMPLE_EVENTS

pytestmark = pytest.mark.unit

AUDIT_CLOSED: dict[str, Any] = {
    **EXAMPLE_EVENTS["audit.finding_recorded"],
    "type": "vn.qms.audit.closed.v1",
    "data": {"kind": "inspection", "audited_agency": "H56.01", "findings": 3},
}
AUDIT_PLANNED: dict[str, Any] = {
    **EXAMPLE_EVENTS["audit.finding_recorded"],
    "type": "vn.qms.audit.planned.v1",
    "data": {
        "kind": "inspection",
        "audited_agency": "H56.01",
        "planned_on": "2025-05-02",
        "on_site": True,
        "scope": "One-stop-shop counter",
        "lead_auditor_id": "auditor-3e4f5a6b",
    },
}


def changed(name_or_raw: str | dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(
        EXAMPLE_EVENTS[name_or_raw] if isinstance(name_or_raw, str) else name_or_raw
    )
    *parents, leaf = path.split(".")
    target = raw
    for part in parents:
        target = target[part]
    target[leaf] = value
    return raw


def refused_fields(raw: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(EventValidationError) as caught:
        parse_event(raw)
    return caught.value.errors


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("time", "0001-01-01T00:00:00+08:00"),
        ("time", "1969-12-31T23:59:59Z"),
        ("time", "1999-12-31T09:59:59Z"),
        ("time", "9999-12-31T23:59:59-07:00"),
        ("time", "2100-01-01T12:00:00Z"),
        ("data.due_at", "9999-12-31T23:59:59+07:00"),
    ],
)
def test_a_time_outside_the_window_is_refused_naming_the_field(path: str, value: str) -> None:
    errors = refused_fields(changed("dossier.received", path, value))
    assert path in [e.field for e in errors]
    reason = next(e.reason for e in errors if e.field == path)
    assert "2000-01-01 and 2099-12-31" in reason and value in reason


@pytest.mark.parametrize(
    "value", ["2000-01-01T00:00:00+07:00", "2000-01-01T00:00:00+14:00", "2099-12-31T23:59:59-12:00"]
)
def test_the_edges_of_the_window_are_accepted_in_any_offset(value: str) -> None:
    raw = changed("dossier.received", "time", value)
    raw["data"]["due_at"] = "2099-12-31T23:59:59.999-12:00"
    assert parse_event(raw).time.isoformat().startswith(value[:19])


@pytest.mark.parametrize("value", ["0001-01-01", "1970-01-01", "1999-12-31", "2100-01-01"])
def test_a_date_outside_the_window_is_refused(value: str) -> None:
    errors = refused_fields(changed(AUDIT_PLANNED, "data.planned_on", value))
    assert [e.field for e in errors] == ["data.planned_on"]
    assert "outside the time window" in errors[0].reason


@pytest.mark.parametrize("value", [2**32, -1, 10**30])
def test_a_count_its_column_cannot_hold_is_refused(value: int) -> None:
    errors = refused_fields(changed(AUDIT_CLOSED, "data.findings", value))
    assert [e.field for e in errors] == ["data.findings"]


def test_the_largest_count_its_column_holds_is_accepted() -> None:
    assert parse_event(changed(AUDIT_CLOSED, "data.findings", 2**32 - 1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_float_that_is_not_finite_is_refused(value: float) -> None:
    errors = refused_fields(changed("objective.set", "data.target", value))
    assert [e.field for e in errors] == ["data.target"]
    assert "finite" in errors[0].reason


@pytest.mark.parametrize(
    ("raw", "path", "value"),
    [
        (AUDIT_PLANNED, "data.on_site", 1),
        (AUDIT_PLANNED, "data.on_site", "true"),
        (AUDIT_CLOSED, "data.findings", True),
        (AUDIT_CLOSED, "data.findings", "3"),
        (AUDIT_CLOSED, "data.findings", 3.0),
        (EXAMPLE_EVENTS["satisfaction.rated"], "data.score", True),
        (EXAMPLE_EVENTS["dossier.received"], "data.online_level", "4"),
        (EXAMPLE_EVENTS["objective.set"], "data.target", True),
        (EXAMPLE_EVENTS["objective.set"], "data.target", "98"),
        (EXAMPLE_EVENTS["dossier.received"], "agencycode", 5601),
    ],
)
def test_booleans_are_not_numbers_and_numbers_are_not_strings(
    raw: dict[str, Any], path: str, value: Any
) -> None:
    assert [e.field for e in refused_fields(changed(raw, path, value))] == [path]


@pytest.mark.parametrize("value", [1700000000, 1.7e9, "1700000000", True])
def test_a_time_is_rfc_3339_text_never_a_number(value: Any) -> None:
    errors = refused_fields(changed("satisfaction.rated", "time", value))
    assert errors == [
        FieldError("time", "must be an RFC 3339 date-time string, e.g. '2025-03-01T08:15:00+07:00'")
    ]


@pytest.mark.parametrize("value", [20250502, "20250502", False])
def test_a_date_is_iso_8601_text_never_a_number(value: Any) -> None:
    errors = refused_fields(changed(AUDIT_PLANNED, "data.planned_on", value))
    assert [e.field for e in errors] == ["data.planned_on"]


def test_an_integer_is_a_valid_float() -> None:
    assert parse_event(changed("objective.set", "data.target", 98)).data.target == 98.0  # type: ignore[attr-defined]


def test_every_float_in_the_contracts_refuses_infinity() -> None:
    floats = [
        (model.__name__, name)
        for model in _all_models()
        for name, field in model.model_fields.items()
        if field.annotation is float
        and not any(getattr(m, "allow_inf_nan", True) is False for m in field.metadata)
    ]
    assert floats == []


def test_every_agency_field_of_every_family_is_found() -> None:
    found = {
        event_type: agency_paths(model)
        for event_type, model in EVENT_TYPES.items()
        if agency_paths(model) != (("agencycode",),)
    }
    assert found == {
        f"vn.qms.audit.{name}.v1": (("agencycode",), ("data", "audited_agency"))
        for name in ("planned", "conducted", "finding_recorded", "closed")
    } | {"vn.qms.capa.opened.v1": (("agencycode",), ("data", "agency"))}


def test_agency_codes_lists_each_code_with_its_field() -> None:
    event = parse_event(changed("audit.finding_recorded", "data.audited_agency", "H57.01"))
    assert list(agency_codes(event)) == [
        ("agencycode", "H56.01"),
        ("data.audited_agency", "H57.01"),
    ]


def _all_models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = list(EVENT_TYPES.values())
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    pending.append(candidate)
    return seen


class _Inspected(Contract):
    audited_agency: AgencyCode


class _Future(Contract):
    """A shape no family has yet: agency lists and an optional nested contract."""

    agencycode: AgencyCode
    agencies: list[AgencyCode] = Field(default_factory=list)
    inspections: list[_Inspected] = Field(default_factory=list)
    lead: _Inspected | None = None


def test_agency_fields_are_found_in_lists_and_optional_contracts_too() -> None:
    assert agency_paths(_Future) == (
        ("agencycode",),
        ("agencies", "*"),
        ("inspections", "*", "audited_agency"),
        ("lead", "audited_agency"),
    )
    full = _Future(
        agencycode="A1",
        agencies=["B1", "B2"],
        inspections=[_Inspected(audited_agency="C1")],
        lead=_Inspected(audited_agency="D1"),
    )
    assert list(agency_codes(full)) == [
        ("agencycode", "A1"),
        ("agencies.0", "B1"),
        ("agencies.1", "B2"),
        ("inspections.0.audited_agency", "C1"),
        ("lead.audited_agency", "D1"),
    ]
    assert agency_values(full) == ("A1", "B1", "B2", "C1", "D1")
    assert agency_values(_Future(agencycode="A1")) == ("A1",)


def test_agency_values_reads_what_agency_codes_walks_for_every_event_type() -> None:
    for name in EXAMPLE_EVENTS:
        event = parse_event(EXAMPLE_EVENTS[name])
        assert agency_values(event) == tuple(code for _, code in agency_codes(event))
