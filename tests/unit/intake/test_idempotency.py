from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.acceptance import Acceptance
from services.intake.domain.idempotency import AcceptanceIndex

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def accepted(event_id: str, at: datetime, offset: int = 0) -> Acceptance:
    return Acceptance(event_id, "urn:s", "qms.dossier.v1", 0, offset, at, b"digest")


def test_remembers_the_original_acceptance_within_the_window() -> None:
    index = AcceptanceIndex(timedelta(hours=1), max_entries=10)
    index.remember(accepted("a", T0, offset=7))
    index.remember(accepted("a", T0 + timedelta(minutes=1), offset=9))  # not the original
    found = index.get(("urn:s", "a"), T0 + timedelta(minutes=59))
    assert found is not None and found.offset == 7
    assert index.get(("urn:other", "a"), T0) is None


def test_forgets_past_the_window() -> None:
    index = AcceptanceIndex(timedelta(hours=1), max_entries=10)
    index.remember(accepted("a", T0))
    index.remember(accepted("b", T0 + timedelta(minutes=30)))
    assert index.get(("urn:s", "a"), T0 + timedelta(minutes=61)) is None
    assert index.forget_older_than(T0 + timedelta(minutes=61)) == 1
    assert len(index) == 1


def test_forgets_the_oldest_past_the_size_bound() -> None:
    index = AcceptanceIndex(timedelta(days=1), max_entries=2)
    for n, event_id in enumerate("abc"):
        index.remember(accepted(event_id, T0 + timedelta(seconds=n)))
    assert len(index) == 2
    assert index.get(("urn:s", "a"), T0) is None
    assert index.get(("urn:s", "c"), T0) is not None


def test_the_acceptance_json_is_the_contract_shape() -> None:
    body = accepted("a", T0, offset=3).as_json(duplicate=True)
    assert body == {
        "id": "a",
        "source": "urn:s",
        "topic": "qms.dossier.v1",
        "partition": 0,
        "offset": 3,
        "receivedtime": "2026-01-01T00:00:00+00:00",
        "duplicate": True,
    }
