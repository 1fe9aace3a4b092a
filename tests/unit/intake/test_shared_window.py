"""Two replicas sharing one log, each with its own window read back from that log: a
duplicate is recognised whichever replica it reaches, even when both copies race."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from aiokafka import TopicPartition

from services.intake.adapters.acceptance_replay import acceptance_from_record
from services.intake.domain.acceptance import Acceptance
from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.service_layer.ports import Position
from services.intake.service_layer.publishing import Accepted, PublishingService, Refused
from tests.unit.intake.conftest import example
from tests.unit.intake.test_publishing import DEMO, NOW, MemoryLog

pytestmark = pytest.mark.unit


class LogFeed:
    """Reads the shared in-memory log into one replica's window (what the tail does)."""

    def __init__(self, log: MemoryLog, index: AcceptanceIndex) -> None:
        self.log = log
        self.index = index
        self.read = 0
        self.own: list[Position] = []

    def appended(self, positions: Sequence[Position]) -> None:
        self.own.extend(positions)

    async def caught_up(self, positions: Sequence[Position]) -> bool:
        for offset in range(self.read, len(self.log.records)):
            record = self.log.records[offset]
            found = acceptance_from_record(TopicPartition(record.topic, 0), offset, record.value)
            assert found is not None
            self.index.remember(found)
        self.read = len(self.log.records)
        return all(p.offset < self.read for p in positions)


def replica(log: MemoryLog) -> PublishingService:
    index = AcceptanceIndex(timedelta(hours=24), 1000)
    return PublishingService(
        log,
        index,
        topic_prefix="qms.",
        max_future_skew=timedelta(seconds=300),
        clock=lambda: NOW,
        feed=LogFeed(log, index),
    )


def acceptance(outcome: Accepted | Refused) -> tuple[Acceptance, bool]:
    assert isinstance(outcome, Accepted), outcome
    return outcome.acceptance, outcome.duplicate


async def test_a_retry_reaching_the_other_replica_is_a_duplicate_of_the_original() -> None:
    log = MemoryLog()
    first, second = replica(log), replica(log)
    [original] = await first.publish([example("dossier.received")], DEMO)
    await first.publish([example("dossier.resolved")], DEMO)  # the log moves on
    assert second.feed is not None
    await second.feed.caught_up([])  # the second replica has read the log meanwhile
    [retry] = await second.publish([example("dossier.received")], DEMO)
    assert acceptance(retry) == (acceptance(original)[0], True)
    assert len(log.records) == 2  # the retry was not appended again


async def test_two_copies_racing_to_two_replicas_agree_on_the_earlier_one() -> None:
    log = MemoryLog()
    log.gate = asyncio.Event()  # both replicas pass their window check before either appends
    first, second = replica(log), replica(log)
    racing = asyncio.gather(
        first.publish([example("dossier.received")], DEMO),
        second.publish([example("dossier.received")], DEMO),
    )
    await asyncio.sleep(0)
    log.gate.set()
    [[one], [other]] = await racing
    assert len(log.records) == 2  # both copies reached the log...
    # ...and both replicas answer with the first copy: one as accepted, one as duplicate.
    (a, a_dup), (b, b_dup) = acceptance(one), acceptance(other)
    assert a == b and a.offset == 0
    assert sorted([a_dup, b_dup]) == [False, True]


async def test_a_racing_copy_with_other_content_is_a_conflict() -> None:
    log = MemoryLog()
    log.gate = asyncio.Event()
    first, second = replica(log), replica(log)
    racing = asyncio.gather(
        first.publish([example("dossier.received")], DEMO),
        second.publish([example("dossier.received", time="2025-03-01T09:00:00+07:00")], DEMO),
    )
    await asyncio.sleep(0)
    log.gate.set()
    [[one], [other]] = await racing
    assert isinstance(one, Accepted) and not one.duplicate
    assert isinstance(other, Refused) and other.status == 409


def test_the_earlier_record_of_a_partition_is_the_original_whatever_is_learnt_first() -> None:
    index = AcceptanceIndex(timedelta(hours=24), 10)
    later = Acceptance("e-1", "urn:a", "qms.dossier.v1", 2, 40, NOW, b"digest")
    earlier = later._replace(offset=17)
    elsewhere = later._replace(partition=1, offset=3)
    index.remember(later)
    index.remember(earlier)
    index.remember(elsewhere)  # another partition: not a copy of this record, first one wins
    assert index.get(later.key, NOW) == earlier
    index.remember(later)
    assert index.get(later.key, NOW) == earlier
