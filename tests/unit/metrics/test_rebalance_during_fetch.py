"""A rebalance that starts while the metrics worker is fetching: the listener is not kept
waiting (aiokafka's `getmany` waits for the new assignment, which waits for the listener),
and the batch fetched across it is read again, stored once, by the new assignment."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
from aiokafka import TopicPartition

from services.common.deadletter import RecordPosition
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import Rejected, Row
from services.metrics.entrypoints.consumer import MetricsWorker, _FinishTheBatch
from services.metrics.service_layer.ingestion import Ingestor
from tests.unit.metrics.test_worker_batches import DOSSIERS, Fetch, records

pytestmark = pytest.mark.unit

DEADLINE_S = 10.0  # a deadlock's bound, not a measurement


class RebalancingConsumer:
    """One partition's records, read from a position a seek moves; the second `getmany`
    starts a rebalance, run as aiokafka's coordinator runs one: the new assignment waits
    for the revocation listener, and `getmany` waits for the new assignment."""

    def __init__(self, worker: MetricsWorker, offsets: Sequence[int]) -> None:
        self.listener = _FinishTheBatch(worker)
        self.log = records(DOSSIERS, offsets)
        self.position = 0
        self.calls = 0
        self.assigned = asyncio.Event()
        self.assigned.set()
        self.rebalance: asyncio.Task[None] | None = None
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.committed = asyncio.Event()

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Fetch:
        self.calls += 1
        if self.calls == 2:
            self.assigned.clear()
            self.rebalance = asyncio.create_task(self._rebalance())
        await self.assigned.wait()  # no timeout, as in aiokafka's Fetcher.fetched_records
        if self.position >= len(self.log):
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        fetched = self.log[self.position : self.position + max_records]
        self.position += len(fetched)
        return {DOSSIERS: fetched}

    async def _rebalance(self) -> None:
        await self.listener.on_partitions_revoked({DOSSIERS})
        self.assigned.set()

    def assignment(self) -> set[TopicPartition]:
        return {DOSSIERS}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.position = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)
        self.committed.set()


class Inserts:
    """A store that keeps the offsets of each insert."""

    def __init__(self) -> None:
        self.batches: list[str] = []

    async def ainsert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int:
        self.batches.append(token)
        return sum(len(r) for r in rows.values())

    async def is_refusal(self, error: Exception) -> bool:
        return False


class NoDeadLetters:
    async def send(self, rejected: Rejected) -> None:
        raise AssertionError(f"nothing is dead-lettered here: {rejected}")


async def test_a_rebalance_during_the_fetch_neither_waits_for_it_nor_stores_its_batch() -> None:
    settings = MetricsSettings().model_copy(update={"batch_size": 100, "flush_interval_s": 0.1})
    worker = MetricsWorker(settings, Inserts())
    stored = Inserts()
    mapped: list[int] = []

    def mapper(position: RecordPosition, value: bytes) -> dict[str, list[Row]]:
        mapped.append(position.offset)
        return {"events": []}

    worker.ingestor = Ingestor(stored, NoDeadLetters(), mapper=mapper)
    consumer = RebalancingConsumer(worker, [0, 1, 2])
    worker.consumer = consumer
    consuming = asyncio.create_task(worker.consume())
    try:
        async with asyncio.timeout(DEADLINE_S):
            await consumer.committed.wait()
        assert consumer.rebalance is not None and consumer.rebalance.done()
    finally:
        consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)
    assert consumer.seeks == [(DOSSIERS, 0)]  # the batch fetched across it, read again
    assert mapped == [0, 1, 2] and len(stored.batches) == 1  # stored once, after it
    assert consumer.commits == [{DOSSIERS: 3}]
