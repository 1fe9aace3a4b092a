"""Trace context in the events: stamped by intake outside the content, read back by consumers."""

from __future__ import annotations

import json

import pytest
from aiokafka import TopicPartition
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.tracing import NO_TRACING, configure_tracing, traceparent_of
from services.intake.adapters.acceptance_replay import acceptance_from_record
from services.intake.service_layer.admission import Admitted, Refused, admit_event
from services.intake.service_layer.valid_batch import admit_valid_batch
from tests.unit.intake.conftest import example
from tests.unit.intake.test_scope_and_content import H56_AUDITS, LATEST, NOW

pytestmark = pytest.mark.unit

ONE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TWO = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def admitted(traceparent: str | None) -> Admitted:
    event = example("audit.finding_recorded")
    result = admit_event(event, H56_AUDITS, NOW, LATEST, "qms.", traceparent)
    assert isinstance(result, Admitted)
    return result


def test_the_stamped_context_is_in_the_stored_event_but_not_in_its_content() -> None:
    first, retry = admitted(ONE), admitted(TWO)
    assert json.loads(first.record.value)["traceparent"] == ONE
    assert traceparent_of(first.record.value) == ONE
    # A retry under another trace is still the same event (a duplicate, not a conflict).
    assert first.content == retry.content == admitted(None).content


def test_the_batch_fast_path_stamps_the_same_bytes() -> None:
    body = json.dumps([example("audit.finding_recorded")]).encode()
    [fast] = admit_valid_batch(body, H56_AUDITS, NOW, LATEST, "qms.", 10, ONE) or []
    single = admitted(ONE)
    assert (fast.record.value, fast.content) == (single.record.value, single.content)


def test_replayed_acceptances_digest_the_traced_record_alike() -> None:
    single = admitted(ONE)
    replayed = acceptance_from_record(TopicPartition("qms.audit.v1", 0), 5, single.record.value)
    assert replayed is not None and replayed.content == single.content


def test_a_publisher_may_not_send_the_attribute() -> None:
    refused = admit_event(
        example("audit.finding_recorded", traceparent=ONE), H56_AUDITS, NOW, LATEST, "qms."
    )
    assert isinstance(refused, Refused)
    assert [e.field for e in refused.errors] == ["traceparent"]


def test_a_batch_sharing_one_context_is_its_child_and_links_every_context() -> None:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("unit", None, exporter)
    one, two = admitted(ONE).record.value, admitted(TWO).record.value
    with tracing.batch("consume", [one, one, b"not json"]):
        pass
    with tracing.batch("consume", [one, two]):
        pass
    child, linked = exporter.get_finished_spans()
    assert child.parent is not None and f"{child.context.trace_id:032x}" == ONE.split("-")[1]
    assert linked.parent is None
    assert {f"{link.context.span_id:016x}" for link in linked.links} == {
        ONE.split("-")[2],
        TWO.split("-")[2],
    }


def test_without_tracing_the_values_are_not_read() -> None:
    def values() -> object:
        raise AssertionError("read while tracing is off")
        yield b""

    with NO_TRACING.batch("consume", values()):  # type: ignore[arg-type]
        pass
