"""Keep a `TrailIndexStore` caught up with the ledger and checkpoint topics.

One task per intake process tails both topics (partitions assigned, no consumer group, so
every replica reads everything and builds its own index) from the positions the store holds,
and hands each fetched batch to the store in a worker thread: the event loop only fetches.
A broker that cannot be reached, or topics that do not exist yet, are retried with jittered
backoff; publishing never depends on any of it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.intake.ledger.adapters.kafka import _partitions
from services.intake.ledger.adapters.trail_index import TopicRecord, TrailIndexStore

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_MS = 500
_MAX_RECORDS = 5000
_BACKOFF_S = (0.5, 10.0)

Partition = tuple[str, int]


class LedgerTailer:
    """The tail loop and what it knows: how far the index is, how far the topics are."""

    def __init__(
        self,
        store: TrailIndexStore,
        bootstrap: str,
        ledger_topic: str,
        checkpoint_topic: str,
        executor: Executor,
        *,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.security = dict(security or {})
        self.ledger_topic = ledger_topic
        self.checkpoint_topic = checkpoint_topic
        self.executor = executor
        self.indexed: dict[Partition, int] = {}  # next offset to index, per partition
        self.resumed_from: dict[Partition, int] = {}  # where the last (re)start began
        self.ends: dict[Partition, int] = {}  # the topics' ends as last seen by a fetch
        self.ready = False  # caught up once with the ends seen at start
        self._start_ends: dict[Partition, int] | None = None
        self.error: str | None = None
        self._progress = asyncio.Condition()

    def lag(self, ends: Mapping[Partition, int] | None = None) -> int:
        """Records of the ledger topics not yet indexed (of `ends`, default the last seen)."""
        ends = self.ends if ends is None else ends
        return sum(max(0, end - self.indexed.get(tp, 0)) for tp, end in ends.items())

    async def wait_for(self, ends: Mapping[Partition, int], seconds: float) -> bool:
        """Wait up to `seconds` until the index reached `ends`; whether it did."""
        try:
            async with asyncio.timeout(seconds), self._progress:
                await self._progress.wait_for(lambda: self.ready and self.lag(ends) == 0)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Tail until cancelled, starting over after any broker failure."""
        failures = 0
        while True:
            try:
                await self._tail()
            except (KafkaError, LookupError, OSError) as exc:
                failures += 1
                self.error = f"{type(exc).__name__}: {exc}"
                delay = min(_BACKOFF_S[1], _BACKOFF_S[0] * 2 ** min(failures, 6))
                log.warning("trail index: tailing the ledger failed (%s); retrying", self.error)
                await asyncio.sleep(random.uniform(delay / 2, delay))

    async def _tail(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **self.security,
        )
        await consumer.start()
        loop = asyncio.get_running_loop()
        try:
            partitions = [
                TopicPartition(topic, number)
                for topic in (self.ledger_topic, self.checkpoint_topic)
                for number in sorted(await _partitions(consumer, topic))
            ]
            consumer.assign(partitions)
            stored = await loop.run_in_executor(
                self.executor, self.store.positions, [(tp.topic, tp.partition) for tp in partitions]
            )
            ends = await consumer.end_offsets(partitions)
            if any(stored.get((tp.topic, tp.partition), 0) > end for tp, end in ends.items()):
                # A topic is shorter than what was indexed of it: deleted and created again.
                log.warning("trail index: the ledger topics were recreated; indexing them anew")
                await loop.run_in_executor(self.executor, self.store.clear)
                stored = {}
            for tp in partitions:
                start = stored.get((tp.topic, tp.partition))
                if start is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, start)
                self.indexed[(tp.topic, tp.partition)] = await consumer.position(tp)
            self.resumed_from = dict(self.indexed)
            self.ends = {(tp.topic, tp.partition): end for tp, end in ends.items()}
            if self._start_ends is None:
                self._start_ends = dict(self.ends)
            await self._notify()
            self.error = None
            while True:
                fetched = await consumer.getmany(
                    timeout_ms=_FETCH_TIMEOUT_MS, max_records=_MAX_RECORDS
                )
                records = [
                    TopicRecord(tp.topic, tp.partition, message.offset, message.value or b"")
                    for tp, messages in fetched.items()
                    for message in messages
                ]
                positions = {
                    (tp.topic, tp.partition): await consumer.position(tp) for tp in partitions
                }
                moved = {tp: at for tp, at in positions.items() if at != self.indexed.get(tp)}
                if records or moved:
                    await loop.run_in_executor(
                        self.executor, self.store.apply, self.ledger_topic, records, moved
                    )
                    self.indexed.update(moved)
                for tp in partitions:
                    # The last stable offset: a read_committed consumer never passes it.
                    end = consumer.last_stable_offset(tp)
                    if end is None or end < 0:
                        end = consumer.highwater(tp)
                    if end is not None and end >= 0:
                        self.ends[(tp.topic, tp.partition)] = end
                await self._notify()
        finally:
            await consumer.stop()

    async def _notify(self) -> None:
        async with self._progress:
            if not self.ready and self._start_ends is not None and self.lag(self._start_ends) == 0:
                self.ready = True
                log.info("trail index caught up with the ledger at %s", dict(self.indexed))
            self._progress.notify_all()
