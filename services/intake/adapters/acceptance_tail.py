"""The idempotency window shared by intake replicas, kept from the event topics themselves.

Every replica reads every partition of the accepted-event topics, without a consumer group,
from the start of the window on, and remembers each acceptance in its own window: a resent
event is a duplicate whichever replica it reaches once the original is on the log. Two
copies of one event sent at once to two replicas both reach the log, on the same partition
(same subject, same key): each replica, after its append, waits until it has read its
partitions up to its own records (`caught_up`), so the one that wrote the later copy finds
the earlier one and answers with it. No database beyond Kafka. What the window needs of
a record comes from the acceptance header intake writes beside the value
(`service_layer.acceptance_header`), so the others' records are not parsed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.backoff import Backoff
from services.intake.adapters.acceptance_replay import acceptance_from_record
from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.service_layer.ports import Position

log = logging.getLogger(__name__)

_Waiter = tuple[dict[TopicPartition, int], asyncio.Future[None]]


class AcceptanceTail:
    """Reads the event topics into `index` for as long as the replica runs."""

    def __init__(
        self,
        bootstrap_servers: str,
        partitions_by_topic: Mapping[str, Iterable[int]],
        index: AcceptanceIndex,
        *,
        wait_s: float,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._partitions = [
            TopicPartition(topic, p)
            for topic, numbers in partitions_by_topic.items()
            for p in sorted(numbers)
        ]
        self._index = index
        self._wait_s = wait_s
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="qms-intake-window",
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,  # a fetch returns as soon as a record arrives anyway
            **(security or {}),
        )
        self._next: dict[TopicPartition, int] = {}  # the next offset to read, per partition
        self._own: set[tuple[TopicPartition, int]] = set()  # written and remembered here
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        self.read = 0

    async def start(self, now: datetime) -> int:
        """Read the window so far (like a restart's replay), then keep reading in the
        background; returns how many records the window so far held."""
        await self._consumer.start()
        consumer = self._consumer
        consumer.assign(self._partitions)
        since_ms = int((now - self._index.window).timestamp() * 1000)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in self._partitions})
        ends = await consumer.end_offsets(self._partitions)
        for tp in self._partitions:
            start = starts.get(tp)
            self._next[tp] = ends[tp] if start is None else min(start.offset, ends[tp])
            consumer.seek(tp, self._next[tp])
        self._task = asyncio.create_task(self._run(), name="intake-shared-window")
        so_far = [Position(tp.topic, tp.partition, ends[tp] - 1) for tp in self._partitions]
        while not await self.caught_up(so_far):
            if self._task.done():
                self._task.result()  # the reader failed: say why rather than wait for ever
            log.info("reading the shared idempotency window: %d records so far", self.read)
        return self.read

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, future in self._waiters:
            if not future.done():
                future.cancel()
        await self._consumer.stop()

    def appended(self, positions: Sequence[Position]) -> None:
        for p in positions:
            tp = TopicPartition(p.topic, p.partition)
            if p.offset >= self._next.get(tp, 0):
                self._own.add((tp, p.offset))

    async def caught_up(self, positions: Sequence[Position]) -> bool:
        """Wait (at most `wait_s`) until every partition is read past its position."""
        pending: dict[TopicPartition, int] = {}
        for p in positions:
            tp = TopicPartition(p.topic, p.partition)
            if self._next.get(tp, 0) <= p.offset:
                pending[tp] = max(p.offset, pending.get(tp, -1))
        if not pending:
            return True
        waiter: _Waiter = (pending, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._wait_s):
                await waiter[1]
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.remove(waiter)

    async def _run(self) -> None:
        backoff = Backoff(initial_s=0.2, max_s=5.0)
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=20_000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away: keep the window, read on later
                delay = backoff.next_delay()
                log.warning("shared window not read (%r); again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.succeeded()
            for tp, messages in batches.items():
                self._remember(tp, messages)
            self._wake()

    def _remember(self, tp: TopicPartition, messages: Sequence[Any]) -> None:
        own, index = self._own, self._index
        for message in messages:
            if (tp, message.offset) in own:
                own.discard((tp, message.offset))
                continue
            acceptance = acceptance_from_record(tp, message.offset, message.value, message.headers)
            if acceptance is not None:
                index.remember(acceptance)
        if messages:
            self.read += len(messages)
            self._next[tp] = messages[-1].offset + 1

    def _wake(self) -> None:
        for pending, future in self._waiters:
            if not future.done() and all(self._next.get(tp, 0) > o for tp, o in pending.items()):
                future.set_result(None)
