"""The event contracts refuse bad input precisely and survive the Kafka binding."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas import (
    EVENT_TYPES,
    EventValidationError,
    FieldError,
    from_kafka_value,
    parse_event,
    to_kafka_record,
    topic_for,
)
from schemas.dossier import Channel, DossierReceived
from schemas.generate import drifted_files

pytestmark = pytest.mark.unit

RECEIVED: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-0001",
    "source": "urn:vn:gov:h56:one-stop-shop",
    "type": "vn.qms.dossier.received.v1",
    "subject": "H56.01-260105-0001",
    "time": "2026-01-05T08:30:00+07:00",
    "agencycode": "H56.01",
    "data": {
        "procedure_code": "1.001612.000.00.00.H56",
        "channel": "online",
        "online_level": 4,
        "due_at": "2026-01-12T17:00:00+07:00",
        "applicant_id": "app-7f3a9c21",
    },
}
RESOLVED: dict[str, Any] = {
    **RECEIVED,
    "id": "evt-0002",
    "type": "vn.qms.dossier.resolved.v1",
    "time": "2026-01-09T10:00:00+07:00",
    "data": {
        "procedure_code": "1.001612.000.00.00.H56",
        "outcome": "approved",
        "received_at": "2026-01-05T08:30:00+07:00",
        "due_at": "2026-01-12T17:00:00+07:00",
    },
}


def event(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `base` with dotted-path changes; a value of ... deletes the key."""
    raw = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = raw
        for part in parents:
            target = target[part]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return raw


def refusal(raw: dict[str, Any], **kwargs: Any) -> list[FieldError]:
    with pytest.raises(EventValidationError) as caught:
        parse_event(raw, **kwargs)
    return caught.value.errors


def test_a_valid_received_event_parses_into_its_typed_model() -> None:
    parsed = parse_event(RECEIVED, refuse_unknown_fields=True)

    assert isinstance(parsed, DossierReceived)
    assert parsed.data.channel is Channel.ONLINE
    assert parsed.family == "dossier"
    assert topic_for(parsed.type) == "qms.dossier.v1"


def test_a_wrong_type_names_the_field() -> None:
    errors = refusal(event(RECEIVED, data__online_level="four"))
    assert [e.field for e in errors] == ["data.online_level"]
    assert "integer" in errors[0].reason


def test_a_missing_field_names_the_field() -> None:
    errors = refusal(event(RECEIVED, data__due_at=...))
    assert errors == [FieldError("data.due_at", "Field required")]


def test_a_timestamp_without_time_zone_is_refused() -> None:
    errors = refusal(event(RECEIVED, time="2026-01-05T08:30:00"))
    assert [e.field for e in errors] == ["time"]
    assert "timezone" in errors[0].reason


def test_an_unknown_event_type_is_refused() -> None:
    errors = refusal(event(RECEIVED, type="vn.qms.dossier.teleported.v1"))
    assert errors == [FieldError("type", "unknown event type 'vn.qms.dossier.teleported.v1'")]


def test_resolved_before_received_is_refused_naming_the_time() -> None:
    errors = refusal(event(RESOLVED, time="2026-01-05T08:00:00+07:00"))
    assert [e.field for e in errors] == ["time"]
    assert "before the dossier was received" in errors[0].reason


def test_a_due_time_before_the_received_time_is_refused() -> None:
    errors = refusal(event(RECEIVED, data__due_at="2026-01-04T08:30:00+07:00"))
    assert [e.field for e in errors] == ["data.due_at"]


def test_online_dossiers_must_state_their_online_level() -> None:
    errors = refusal(event(RECEIVED, data__online_level=...))
    assert [e.field for e in errors] == ["data"]
    assert "online_level is required" in errors[0].reason


def test_unknown_fields_are_refused_at_intake_and_ignored_by_consumers() -> None:
    raw = event(RECEIVED, data__colour="blue", nickname="x")

    errors = refusal(raw, refuse_unknown_fields=True)
    assert sorted(e.field for e in errors) == ["data.colour", "nickname"]
    assert isinstance(parse_event(raw), DossierReceived)


def test_pseudonymous_ids_refuse_personal_data_such_as_an_email() -> None:
    errors = refusal(event(RECEIVED, data__applicant_id="nguyen.van.a@example.vn"))
    assert [e.field for e in errors] == ["data.applicant_id"]


def test_a_non_object_is_refused() -> None:
    assert refusal([RECEIVED]) == [FieldError("", "an event must be a JSON object")]  # type: ignore[arg-type]


def test_the_kafka_binding_round_trips_with_the_subject_as_key() -> None:
    parsed = parse_event(RESOLVED)
    record = to_kafka_record(parsed)

    assert record.key == b"H56.01-260105-0001"
    assert ("content-type", b"application/cloudevents+json; charset=UTF-8") in record.headers
    assert from_kafka_value(record.value) == parsed


def test_every_family_of_the_design_is_in_the_catalogue() -> None:
    families = {t.split(".")[2] for t in EVENT_TYPES}
    assert families == {
        "dossier",
        "complaint",
        "satisfaction",
        "audit",
        "objective",
        "procedure",
        "document",
        "capa",
    }
    assert all(t.startswith("vn.qms.") and t.endswith(".v1") for t in EVENT_TYPES)


def test_generated_json_schema_and_asyncapi_match_the_models() -> None:
    drifted = drifted_files()
    assert drifted == [], f"run `qms schemas generate`: {drifted}"
