"""How the metrics worker cuts its batches and which offsets it commits (a fake consumer:
the fetches it is given, the seeks it is asked for)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from services.common.consumer_batches import FetchFailed, offsets_to_commit, take_batch
from services.metrics.entrypoints.consumer import to_records

pytestmark = pytest.mark.unit

DOSSIERS = TopicPartition("t.dossier.v1", 0)
AUDITS = TopicPartition("t.audit.v1", 2)

Fetch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


def records(tp: TopicPartition, offsets: Sequence[int]) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(
            topic=tp.topic,
            partition=tp.partition,
            offset=o,
            timestamp=0,
            timestamp_type=0,
            key=f"k{o}".encode(),
            value=f"v{o}".encode(),
            checksum=None,
            serialized_key_size=2,
            serialized_value_size=2,
            headers=[],
        )
        for o in offsets
    ]


class FakeConsumer:
    """Hands out the scripted fetches one `getmany` at a time, then nothing (after the wait);
    an exception in the script is raised by that fetch."""

    def __init__(self, *fetches: Fetch | Exception) -> None:
        self.fetches = list(fetches)
        self.asked: list[int] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Fetch:
        self.asked.append(max_records)
        if not self.fetches:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        fetched = self.fetches.pop(0)
        if isinstance(fetched, Exception):
            raise fetched
        return fetched

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def offsets(taken: Fetch) -> dict[TopicPartition, list[int]]:
    return {tp: [r.offset for r in rs] for tp, rs in taken.items()}


async def test_a_batch_fills_across_fetches_up_to_its_size() -> None:
    consumer = FakeConsumer(
        {DOSSIERS: records(DOSSIERS, range(0, 3))},
        {DOSSIERS: records(DOSSIERS, range(3, 5)), AUDITS: records(AUDITS, [7])},
        {DOSSIERS: records(DOSSIERS, range(5, 9))},
    )
    taken = await take_batch(consumer, size=6, within_s=5)
    assert offsets(taken) == {DOSSIERS: [0, 1, 2, 3, 4], AUDITS: [7]}
    assert consumer.asked == [6, 3]  # never more than the batch still has room for
    assert [r.position.offset for r in to_records(taken)] == [0, 1, 2, 3, 4, 7]


async def test_a_partial_batch_goes_once_the_flush_interval_passed() -> None:
    consumer = FakeConsumer({DOSSIERS: records(DOSSIERS, [0, 1])})
    started = asyncio.get_running_loop().time()
    taken = await take_batch(consumer, size=100, within_s=0.2)
    waited = asyncio.get_running_loop().time() - started
    assert offsets(taken) == {DOSSIERS: [0, 1]}
    assert 0.15 <= waited < 2  # waited for more, then gave up (a bound, not a measurement)


async def test_nothing_to_read_gives_an_empty_batch() -> None:
    assert await take_batch(FakeConsumer(), size=10, within_s=0.05) == {}


async def test_a_partition_read_again_after_a_rebalance_opens_the_next_batch() -> None:
    consumer = FakeConsumer(
        {DOSSIERS: records(DOSSIERS, range(10, 14)), AUDITS: records(AUDITS, [3])},
        # The rebalance set the dossier partition back to its committed offset 10.
        {DOSSIERS: records(DOSSIERS, range(10, 12)), AUDITS: records(AUDITS, [4])},
    )
    taken = await take_batch(consumer, size=100, within_s=5)
    assert offsets(taken) == {DOSSIERS: [10, 11, 12, 13], AUDITS: [3, 4]}
    assert consumer.seeks == [(DOSSIERS, 10)]  # fetched again, at the head of the next batch


async def test_a_failed_fetch_ends_the_batch_with_what_it_has_or_raises_when_empty() -> None:
    broker_away = ConnectionError("broker away")
    consumer = FakeConsumer({DOSSIERS: records(DOSSIERS, [0])}, broker_away)
    assert offsets(await take_batch(consumer, size=100, within_s=5)) == {DOSSIERS: [0]}
    with pytest.raises(FetchFailed):
        await take_batch(FakeConsumer(broker_away), size=100, within_s=5)


def test_the_commit_is_each_assigned_partitions_last_offset_plus_one() -> None:
    taken = {DOSSIERS: records(DOSSIERS, range(10, 14)), AUDITS: records(AUDITS, [3, 4])}
    assert offsets_to_commit(taken, {DOSSIERS, AUDITS}) == {DOSSIERS: 14, AUDITS: 5}
    # The audit partition moved to another member meanwhile: its new owner reads it again.
    assert offsets_to_commit(taken, {DOSSIERS}) == {DOSSIERS: 14}
    assert offsets_to_commit(taken, set()) == {}
