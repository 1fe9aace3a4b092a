"""The hot-path shortcuts give the same answers as the contracts they stand in for."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EVENT_TYPES, parse_event, to_kafka_record
from schemas.base import unknown_fields
from services.intake.domain.unknown_fields import has_unknown_fields
from services.intake.entrypoints.examples import EXAMPLE_EVENTS
from services.intake.service_layer.encoding import encode_record

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def stamped(raw: dict[str, Any]) -> Any:
    return parse_event({**raw, "receivedtime": NOW, "publisher": "demo-province"})


@pytest.mark.parametrize("name", sorted(EXAMPLE_EVENTS))
def test_encode_record_is_to_kafka_record(name: str) -> None:
    event = stamped(EXAMPLE_EVENTS[name])
    assert encode_record(event) == to_kafka_record(event)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=1, max_size=50).filter(lambda s: s.strip()),
    target=st.floats(min_value=0, max_value=1e9, allow_nan=False),
)
def test_encode_record_is_the_same_json_document_for_any_text_and_float(
    text: str, target: float
) -> None:
    raw = copy.deepcopy(EXAMPLE_EVENTS["objective.set"])
    raw["data"]["target"] = target
    raw["data"]["comparison"] = "at_most"
    event = stamped(raw)
    ours, theirs = encode_record(event), to_kafka_record(event)
    assert json.loads(ours.value) == json.loads(theirs.value)
    assert (ours.key, ours.headers) == (theirs.key, theirs.headers)
    complaint = copy.deepcopy(EXAMPLE_EVENTS["complaint.filed"])
    complaint["data"]["category"] = text[:200]
    event = stamped(complaint)
    assert encode_record(event).value == to_kafka_record(event).value


def mutations(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The event with an unknown key at each level, and unchanged."""
    top = {**raw, "extra": 1}
    nested = copy.deepcopy(raw)
    nested["data"]["surprise"] = True
    return [raw, top, nested]


@pytest.mark.parametrize("name", sorted(EXAMPLE_EVENTS))
def test_the_unknown_field_gate_agrees_with_schemas(name: str) -> None:
    for raw in mutations(copy.deepcopy(EXAMPLE_EVENTS[name])):
        model = EVENT_TYPES[raw["type"]]
        assert has_unknown_fields(model, raw) == bool(list(unknown_fields(model, raw)))


def test_the_gate_walks_lists_of_contracts_like_schemas_does() -> None:
    for model in EVENT_TYPES.values():
        fake = {name: {"x": 1} for name in model.model_fields}
        assert has_unknown_fields(model, fake) == bool(list(unknown_fields(model, fake)))
