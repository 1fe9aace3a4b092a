from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.publishers import Publisher
from services.intake.service_layer.admission import Admitted, Refused, admit_batch_body
from tests.unit.intake.conftest import example

pytestmark = pytest.mark.unit

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DEMO = Publisher("demo", ("*",), frozenset({"dossier", "complaint"}), sources=("urn:*",))


def admit(body: bytes, max_events: int = 10):  # type: ignore[no-untyped-def]
    return admit_batch_body(body, DEMO, NOW, NOW + timedelta(minutes=5), "qms.", max_events)


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"[{", 400, "malformed-json"),
        (b'{"a": 1}', 422, "invalid-batch"),
        (b"[]", 422, "invalid-batch"),
        (json.dumps([{}] * 11).encode(), 413, "batch-too-large"),
    ],
)
def test_a_malformed_batch_is_refused_whole(body: bytes, status: int, slug: str) -> None:
    result = admit(body)
    assert result.problem is not None
    assert (result.problem.status, result.problem.slug) == (status, slug)
    assert result.admissions == []


def test_each_event_is_admitted_or_refused_in_order_and_the_result_pickles() -> None:
    body = json.dumps(
        [example("dossier.received"), {"type": "nope"}, example("complaint.filed")]
    ).encode()
    result = admit(body)
    assert result.problem is None
    kinds = [type(a) for a in result.admissions]
    assert kinds == [Admitted, Refused, Admitted]
    # What a worker process sends back to the event loop survives the trip.
    assert pickle.loads(pickle.dumps(result)) == result
