"""The publishing use case against an in-memory log: given events, when published, then..."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.domain.publishers import Publisher
from services.intake.service_layer.ports import OutgoingRecord, Position
from services.intake.service_layer.publishing import Accepted, PublishingService, Refused
from tests.unit.intake.conftest import example

pytestmark = pytest.mark.unit

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DEMO = Publisher(
    "demo", ("*",), frozenset({"dossier", "complaint", "objective"}), sources=("urn:*",)
)


class MemoryLog:
    """A log that keeps what it was given; `fail` makes the next append refuse everything."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def append(self, records: Sequence[OutgoingRecord]) -> list[Position | BaseException]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            return [ConnectionError("broker down") for _ in records]
        results: list[Position | BaseException] = []
        for record in records:
            self.records.append(record)
            results.append(Position(record.topic, 0, len(self.records) - 1))
        return results


def service(log: MemoryLog, skew: float = 300) -> PublishingService:
    return PublishingService(
        log,
        AcceptanceIndex(timedelta(hours=24), 1000),
        topic_prefix="qms.",
        max_future_skew=timedelta(seconds=skew),
        clock=lambda: NOW,
    )


async def test_an_accepted_event_is_stamped_and_keyed_by_subject() -> None:
    log = MemoryLog()
    [outcome] = await service(log).publish([example("dossier.received")], DEMO)
    assert isinstance(outcome, Accepted) and not outcome.duplicate
    [record] = log.records
    assert record.topic == "qms.dossier.v1"
    assert record.key == b"H56.01-250301-0042"
    value = json.loads(record.value)
    assert value["publisher"] == "demo"
    assert value["receivedtime"] == "2025-06-01T12:00:00Z"
    assert record.timestamp_ms == int(NOW.timestamp() * 1000)


async def test_a_duplicate_gets_the_original_acceptance_and_is_not_appended() -> None:
    log = MemoryLog()
    svc = service(log)
    [first] = await svc.publish([example("dossier.received")], DEMO)
    [again] = await svc.publish([example("dossier.received")], DEMO)
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.duplicate and again.acceptance == first.acceptance
    assert len(log.records) == 1


async def test_the_same_content_written_differently_is_still_a_duplicate() -> None:
    svc = service(MemoryLog())
    await svc.publish([example("dossier.received")], DEMO)
    same_instant = example("dossier.received", time="2025-03-01T08:15:00.000+07:00")
    [again] = await svc.publish([same_instant], DEMO)
    assert isinstance(again, Accepted) and again.duplicate


async def test_an_accepted_id_sent_with_other_content_is_a_conflict_not_a_duplicate() -> None:
    log = MemoryLog()
    svc = service(log)
    [first] = await svc.publish([example("dossier.received")], DEMO)
    [other] = await svc.publish([example("dossier.received", subject="changed")], DEMO)
    assert isinstance(first, Accepted)
    assert isinstance(other, Refused) and other.status == 409 and other.reason == "conflict"
    assert [e.field for e in other.errors] == ["id"]
    assert len(log.records) == 1


async def test_a_batch_with_two_contents_under_one_id_appends_the_first_only() -> None:
    log = MemoryLog()
    batch = [example("dossier.received"), example("dossier.received", subject="changed")]
    first, second = await service(log).publish(batch, DEMO)
    assert isinstance(first, Accepted) and not first.duplicate
    assert isinstance(second, Refused) and second.status == 409
    assert len(log.records) == 1


async def test_a_batch_copy_is_a_duplicate_whatever_the_window_size() -> None:
    # A window of one entry evicts the original before the copy is answered: the copy
    # must still be answered from the original's own acceptance, never as a failure.
    svc = PublishingService(
        MemoryLog(),
        AcceptanceIndex(timedelta(hours=24), 1),
        topic_prefix="qms.",
        max_future_skew=timedelta(seconds=300),
        clock=lambda: NOW,
    )
    batch = [example("dossier.received"), example("dossier.resolved")] * 2
    outcomes = await svc.publish(batch, DEMO)
    assert [(type(o).__name__, getattr(o, "duplicate", None)) for o in outcomes] == [
        ("Accepted", False),
        ("Accepted", False),
        ("Accepted", True),
        ("Accepted", True),
    ]


async def test_the_same_id_from_another_source_is_another_event() -> None:
    log = MemoryLog()
    svc = service(log)
    await svc.publish([example("dossier.received")], DEMO)
    [other] = await svc.publish([example("dossier.received", source="urn:other")], DEMO)
    assert isinstance(other, Accepted) and not other.duplicate
    assert len(log.records) == 2


async def test_a_duplicate_inside_one_batch_is_appended_once() -> None:
    log = MemoryLog()
    outcomes = await service(log).publish([example("dossier.received")] * 3, DEMO)
    assert [o.duplicate for o in outcomes if isinstance(o, Accepted)] == [False, True, True]
    assert len(log.records) == 1


async def test_concurrent_duplicates_wait_for_the_original() -> None:
    log = MemoryLog()
    log.gate = asyncio.Event()
    svc = service(log)
    first = asyncio.create_task(svc.publish([example("dossier.received")], DEMO))
    second = asyncio.create_task(svc.publish([example("dossier.received")], DEMO))
    await asyncio.sleep(0)
    log.gate.set()
    [a], [b] = await asyncio.gather(first, second)
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    assert sorted([a.duplicate, b.duplicate]) == [False, True]
    assert len(log.records) == 1


async def test_when_the_log_fails_nothing_is_remembered_and_a_retry_appends() -> None:
    log = MemoryLog()
    svc = service(log)
    log.fail = True
    [failed] = await svc.publish([example("dossier.received")], DEMO)
    assert isinstance(failed, Refused) and failed.status == 503
    log.fail = False
    [retried] = await svc.publish([example("dossier.received")], DEMO)
    assert isinstance(retried, Accepted) and not retried.duplicate


async def test_refused_items_never_reach_the_log_and_keep_their_index() -> None:
    log = MemoryLog()
    bad = example("dossier.received", id="bad-1")
    bad["data"]["due_at"] = "2025-02-01T00:00:00+07:00"
    outcomes = await service(log).publish([bad, example("complaint.filed")], DEMO)
    refused, accepted = outcomes
    assert isinstance(refused, Refused) and refused.status == 422 and refused.id == "bad-1"
    assert [e.field for e in refused.errors] == ["data.due_at"]
    assert isinstance(accepted, Accepted)
    assert [r.topic for r in log.records] == ["qms.complaint.v1"]


@pytest.mark.parametrize(
    ("changes", "field", "status"),
    [
        ({"colour": "red"}, "colour", 422),
        ({"publisher": "someone"}, "publisher", 422),
        ({"receivedtime": "2025-01-01T00:00:00Z"}, "receivedtime", 422),
        ({"type": "vn.qms.dossier.teleported.v1"}, "type", 422),
    ],
)
async def test_each_refusal_names_the_field(
    changes: dict[str, Any], field: str, status: int
) -> None:
    log = MemoryLog()
    [outcome] = await service(log).publish([example("dossier.received", **changes)], DEMO)
    assert isinstance(outcome, Refused) and outcome.status == status
    assert field in [e.field for e in outcome.errors]
    assert log.records == []


async def test_the_future_skew_is_configurable() -> None:
    event = example("dossier.received", time="2025-06-01T12:00:30Z")
    event["data"]["due_at"] = "2025-06-05T12:00:00Z"
    [tight] = await service(MemoryLog(), skew=10).publish([event], DEMO)
    [loose] = await service(MemoryLog(), skew=60).publish([event], DEMO)
    assert isinstance(tight, Refused) and tight.reason == "future_time"
    assert isinstance(loose, Accepted)


@pytest.mark.parametrize(
    ("recordedtime", "reason"),
    [
        ("2025-03-01T08:14:59+07:00", "before the event happened"),
        ("2025-06-01T12:05:01Z", "after intake received the event"),
    ],
)
async def test_a_recorded_time_outside_happened_to_received_is_refused_naming_it(
    recordedtime: str, reason: str
) -> None:
    log = MemoryLog()
    event = example("dossier.received", recordedtime=recordedtime)  # happened 08:15 +07:00
    [outcome] = await service(log).publish([event], DEMO)
    assert isinstance(outcome, Refused) and outcome.status == 422
    assert [e.field for e in outcome.errors] == ["recordedtime"]
    assert reason in outcome.errors[0].reason
    assert log.records == []


async def test_a_recorded_time_within_the_skew_of_receipt_is_accepted_and_kept() -> None:
    log = MemoryLog()
    recorded = "2025-06-01T12:05:00Z"  # intake's clock + the 300 s skew
    [outcome] = await service(log).publish(
        [example("dossier.received", recordedtime=recorded)], DEMO
    )
    assert isinstance(outcome, Accepted)
    [record] = log.records
    kept = json.loads(record.value)
    assert datetime.fromisoformat(kept["recordedtime"]) == datetime.fromisoformat(recorded)


async def test_scope_refusals_are_403() -> None:
    narrow = Publisher("narrow", ("H57.*",), frozenset({"complaint"}), sources=("urn:*",))
    [outcome] = await service(MemoryLog()).publish([example("dossier.received")], narrow)
    assert isinstance(outcome, Refused) and outcome.status == 403
    assert [e.field for e in outcome.errors] == ["type", "agencycode"]


async def test_a_non_object_is_refused() -> None:
    [outcome] = await service(MemoryLog()).publish([[1, 2]], DEMO)
    assert isinstance(outcome, Refused) and outcome.status == 422


async def test_past_the_window_an_event_is_appended_again() -> None:
    log = MemoryLog()
    clock = [NOW]
    svc = PublishingService(
        log,
        AcceptanceIndex(timedelta(hours=24), 1000),
        topic_prefix="qms.",
        max_future_skew=timedelta(seconds=300),
        clock=lambda: clock[0],
    )
    await svc.publish([example("dossier.received")], DEMO)
    clock[0] = NOW + timedelta(hours=23)
    [inside] = await svc.publish([example("dossier.received")], DEMO)
    clock[0] = NOW + timedelta(hours=25)
    [outside] = await svc.publish([example("dossier.received")], DEMO)
    assert isinstance(inside, Accepted) and inside.duplicate
    assert isinstance(outside, Accepted) and not outside.duplicate
    assert len(log.records) == 2
    assert len(svc.index) == 1


async def test_conflicts_are_found_before_anything_is_appended() -> None:
    log = MemoryLog()
    svc = service(log)
    await svc.publish([example("dossier.received")], DEMO)
    batch = svc.admit_all(
        [
            example("dossier.resolved"),
            example("dossier.received", subject="changed"),  # accepted before, other content
            example("dossier.resolved", subject="changed"),  # twice in this batch, other content
            example("dossier.received"),  # a plain duplicate is no conflict
        ],
        DEMO,
    )
    assert [(index, refused.status) for index, refused in svc.conflicts(batch)] == [
        (1, 409),
        (2, 409),
    ]
    assert len(log.records) == 1
