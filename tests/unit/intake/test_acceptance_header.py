"""The acceptance header: the shared window reads key, receipt and digest without the value."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import TopicPartition

from services.intake.adapters.acceptance_replay import acceptance_from_record
from services.intake.domain.acceptance import Acceptance
from services.intake.service_layer.acceptance_header import (
    ACCEPTANCE_HEADER,
    acceptance_header,
    read_acceptance_header,
    receipt_text,
)
from services.intake.service_layer.admission import Admitted, admit_event
from services.intake.service_layer.ports import Position
from services.intake.service_layer.valid_batch import admit_valid_batch
from tests.unit.intake.conftest import example
from tests.unit.intake.test_scope_and_content import H56_AUDITS, LATEST, NOW

pytestmark = pytest.mark.unit

AUDITS = TopicPartition("qms.audit.v1", 3)
AT = Position(AUDITS.topic, AUDITS.partition, 7)


def _single(**changes: object) -> Admitted:
    admitted = admit_event(
        example("audit.finding_recorded", **changes), H56_AUDITS, NOW, LATEST, "qms."
    )
    assert isinstance(admitted, Admitted)
    return admitted


def _from_value(admitted: Admitted) -> Acceptance | None:
    return acceptance_from_record(AUDITS, 7, admitted.record.value)


def _from_headers(admitted: Admitted, headers: list[tuple[str, bytes]]) -> Acceptance | None:
    return acceptance_from_record(AUDITS, 7, admitted.record.value, headers)


def test_the_header_tells_what_the_value_tells() -> None:
    admitted = _single(id="phát-hiện-0001")  # a non-ASCII id survives the round trip
    told = _from_headers(admitted, admitted.record.headers)
    assert told is not None
    assert told == _from_value(admitted)
    assert (told.key, told.receivedtime, told.content) == (
        admitted.key,
        NOW,
        admitted.content,
    )


def test_the_batch_fast_path_writes_the_same_header_as_the_general_path() -> None:
    body = json.dumps([example("audit.finding_recorded")]).encode()
    [fast] = admit_valid_batch(body, H56_AUDITS, NOW, LATEST, "qms.", 10) or []
    assert fast.record.headers == _single().record.headers


def test_the_header_is_read_without_the_value() -> None:
    admitted = _single()
    told = acceptance_from_record(AUDITS, 7, b"not json at all", admitted.record.headers)
    assert told is not None and told.content == admitted.content


@pytest.mark.parametrize(
    "damage",
    [
        lambda h: h[:10],  # truncated inside the fixed part
        lambda h: b"\x02" + h[1:],  # a version this reader does not know
        lambda h: h[:17] + b"\xff" + h[18:],  # a receipt length past the end
        lambda h: h[:22] + b"yesterday" + h[22 + 9 :],  # a receipt that is no time
        lambda h: h + b"\xff",  # an id that is not UTF-8
    ],
)
def test_a_header_that_does_not_decode_falls_back_to_the_value(
    damage: Callable[[bytes], bytes],
) -> None:
    admitted = _single()
    [(_, good)] = [h for h in admitted.record.headers if h[0] == ACCEPTANCE_HEADER]
    headers = [("content-type", b"x"), (ACCEPTANCE_HEADER, damage(good))]
    assert read_acceptance_header(headers, AT) is None
    assert _from_headers(admitted, headers) == _from_value(admitted)


def test_a_naive_receipt_or_an_empty_key_is_not_believed() -> None:
    digest = _single().content
    naive = acceptance_header(("urn:a", "1"), b"2025-06-01T12:00:00", digest)
    no_id = acceptance_header(("urn:a", ""), receipt_text(NOW), digest)
    assert read_acceptance_header([naive], AT) is None
    assert read_acceptance_header([no_id], AT) is None


def test_the_receipt_keeps_its_offset_and_microseconds() -> None:
    received = datetime(2025, 6, 1, 19, 0, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
    header = acceptance_header(("urn:a", "1"), receipt_text(received), b"\0" * 16)
    told = read_acceptance_header([header], AT)
    assert told is not None
    assert told.receivedtime.isoformat() == received.isoformat()
