"""The ledger worker: a plain aiokafka group consumer that chains every accepted event.

One chain per event-topic partition; the group gives each partition to one worker, which
reads it in offset order. The chain heads live in a compacted topic (`adapters/heads.py`),
so the worker keeps no local state: whichever worker is given a partition reads its head
back and resumes from it. The loop takes what the consumer fetched as a batch (up to N
records, or what came within T ms), hands it to the `Chainer` (entries published and
acked, checkpoints due signed, then the heads saved), and only then commits the batch's
offsets (for the lag the group reports; the heads, not the offsets, say where to resume).

The chain head, not the group's committed offset, says which record comes next: when the
group gives this worker partitions, it reads their heads and seeks each partition to the
offset after its head. A rebalance waits for the batch under way (one `turn` at a time:
a batch, a rebalance step, a timed checkpoint), so a partition leaves a worker with its
head saved; a worker that dies mid-batch leaves its heads unmoved, and the next owner
produces the same entries again (exact duplicates, ignored by the verifier). A failure
stops the worker instead of skipping a record; a timer signs, every T seconds, the chains
that grew since their last checkpoint.

    python -m services.intake.ledger.worker      # or: qms audit ledger-worker
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from prometheus_client import start_http_server

from services.common.backoff import Backoff
from services.common.consumer_batches import (
    Taken,
    batch_consumer,
    fetch_batch,
    offsets_to_commit,
)
from services.common.consumer_lag import ConsumerLagMonitor, lag_refresh
from services.common.kafka_security import access_error, aiokafka_security, kafka_client_options
from services.common.logs import bind_process, configure_logging
from services.common.periodic import Periodic
from services.common.service_metrics import BATCH_RECORDS, BATCH_SECONDS
from services.common.settings import LogFormat
from services.common.shutdown import StopDeadline
from services.common.topics import ensure_topics, load_topic_specs
from services.common.tracing import NO_TRACING, Tracing, configure_tracing
from services.intake.ledger.adapters.checkpoint_file import append_note
from services.intake.ledger.adapters.heads import KafkaChainHeads, heads_topic, heads_topic_spec
from services.intake.ledger.adapters.kafka import read_ranges
from services.intake.ledger.adapters.keys import load_signer
from services.intake.ledger.adapters.publisher import LedgerPublisher
from services.intake.ledger.chainer import Chainer, Gaps
from services.intake.ledger.domain.chain import ChainHead, EventRecord, chain_key
from services.intake.ledger.domain.note import Signer
from services.intake.ledger.health import ChainHealth
from services.intake.ledger.settings import LedgerSettings

log = logging.getLogger(__name__)

EXIT_FAILED = 1
# How long taking over partitions may keep failing (reading their heads) before the worker
# stops: a worker that chains without its heads would stall those partitions for good.
TAKE_OVER_DEADLINE_S = 120.0


def source_partitions(settings: LedgerSettings) -> int:
    """The partition count of the chained topics (they must agree: the heads topic has it)."""
    specs = {spec.name: spec.partitions for spec in load_topic_specs(prefix=settings.topic_prefix)}
    counts = {specs[name] for name in settings.chained_topic_names() if name in specs}
    if len(counts) != 1:
        raise ValueError(f"chained topics must have one partition count, topics.yaml has {counts}")
    return counts.pop()


def event_records(taken: Taken) -> list[EventRecord]:
    return [
        EventRecord(tp.topic, tp.partition, message.offset, message.value or b"")
        for tp, messages in taken.items()
        for message in messages
    ]


class LedgerWorker:
    """A member of the ledger group: the consumer loop, its rebalance steps and its timers.

    Built inside the event loop that runs it (aiokafka's clients belong to one loop);
    nothing connects before `run`.
    """

    def __init__(
        self,
        settings: LedgerSettings,
        signer: Signer,
        publisher: LedgerPublisher,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self.group = settings.app_id
        self.topics = settings.chained_topic_names()
        options = kafka_client_options(settings)
        self.consumer = batch_consumer(
            settings,
            group=self.group,
            client_id=f"{self.group}-chain",
            session_timeout_s=settings.session_timeout_seconds,
            max_partition_fetch_bytes=settings.fetch_partition_bytes,
        )
        self.heads_producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
        self.publisher = publisher
        self.heads = KafkaChainHeads(self.heads_producer, heads_topic(self.group), options)
        checkpoint_file = settings.checkpoint_file
        self.chainer = Chainer(
            publisher,
            self.heads,
            self.read_ranges,
            signer,
            checkpoint_every=settings.checkpoint_every,
            origin_prefix=settings.origin_prefix,
            anchor=(lambda note: append_note(checkpoint_file, note)) if checkpoint_file else None,
            health=ChainHealth(),
        )
        # One at a time: a batch, a rebalance step, a timed checkpoint.
        self.turn = asyncio.Lock()
        self.failure: BaseException | None = None
        self.stopping = asyncio.Event()
        self.lag = ConsumerLagMonitor(
            settings.kafka_bootstrap_servers,
            self.group,
            self.topics,
            on_end_offsets=lambda ends: self.chainer.health.lagging(ends, self.owned_heads()),
            client_options=aiokafka_security(settings),
        )
        self.timers = [
            Periodic("checkpoint-grown-chains", settings.checkpoint_seconds, self.checkpoint),
            lag_refresh(self.lag, settings.lag_refresh_s),
        ]

    async def read_ranges(self, gaps: Gaps) -> dict[tuple[str, int], list[EventRecord]]:
        return await read_ranges(
            self.settings.kafka_bootstrap_servers, gaps, security=aiokafka_security(self.settings)
        )

    def owned_heads(self) -> dict[TopicPartition, ChainHead]:
        return {
            TopicPartition(head.topic, head.partition): head for head in self.chainer.heads.values()
        }

    async def run(self, stop: asyncio.Event) -> int:
        """Chain until `stop` is set (exit code 0) or a failure stops the worker (1)."""
        async with AsyncExitStack() as stack:
            await self.heads_producer.start()
            stack.push_async_callback(self.heads_producer.stop)
            stack.push_async_callback(self.publisher.stop)  # flush and close its producer
            self.consumer.subscribe(self.topics, listener=_TakeOver(self))
            await self.consumer.start()
            stack.push_async_callback(self.consumer.stop)  # leaves the group
            tasks = [asyncio.create_task(self.consume(), name=f"{self.group}-chain")]
            tasks += [asyncio.create_task(t.run(), name=t.name) for t in self.timers]
            stack.push_async_callback(_cancel, tasks)
            stopped = asyncio.create_task(stop.wait())
            stack.push_async_callback(_cancel, [stopped])
            failed = asyncio.create_task(self.stopping.wait())
            stack.push_async_callback(_cancel, [failed])
            await asyncio.wait([stopped, failed, tasks[0]], return_when=asyncio.FIRST_COMPLETED)
            if tasks[0].done() and not tasks[0].cancelled() and tasks[0].exception():
                self.failure = self.failure or tasks[0].exception()
        return EXIT_FAILED if self.failure is not None else 0

    def fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.stopping.set()

    async def consume(self) -> None:
        """Take a batch, chain it, commit its offsets; until cancelled or a failure."""
        backoff = Backoff(initial_s=1.0, max_s=30.0)
        while True:
            # The fetch takes no turn: while the group rebalances, aiokafka's `getmany`
            # waits for the new assignment, which waits for the listener's turn. A batch
            # fetched across a rebalance is safe to chain: the chainer leaves out the
            # chains given up and skips what a head already holds.
            taken, delay = await fetch_batch(
                self.consumer,
                self.settings.batch_size,
                self.settings.batch_wait_ms / 1000,
                backoff,
                log,
            )
            if taken:
                async with self.turn:
                    await self.chain_or_stop(event_records(taken))
            if delay:
                await asyncio.sleep(delay)
            elif taken:
                await self.commit(taken)

    async def chain_or_stop(self, records: Sequence[EventRecord]) -> None:
        """Chain a batch; on any failure stop the worker rather than skip the batch."""
        try:
            with (
                self.tracing.batch("ledger chain", (record.value for record in records)),
                BATCH_SECONDS.labels(self.group).time(),
            ):
                await self.chainer.chain(records)
        except Exception as exc:
            # Moving on would chain later records first and leave these out for good. The
            # heads did not move and nothing is committed: the next worker retries them.
            first = records[0]
            log.critical(
                "ledger stopped at a batch of %d from %s/%d offset %d: %r",
                len(records),
                first.topic,
                first.partition,
                first.offset,
                exc,
            )
            self.fail(exc)
            raise
        BATCH_RECORDS.labels(self.group).observe(len(records))

    async def commit(self, taken: Taken) -> None:
        """Commit the batch's offsets of the partitions still assigned; a refusal (the group
        rebalanced meanwhile) only delays what the group's lag shows."""
        offsets = offsets_to_commit(taken, self.consumer.assignment())
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            log.info("commit of %d partition(s) refused (%s)", len(offsets), type(exc).__name__)

    async def checkpoint(self) -> None:
        """Every T seconds: sign the owned chains that grew since their last checkpoint."""
        async with self.turn:
            await self.chainer.checkpoint_grown()

    async def give_up(self, revoked: set[TopicPartition]) -> None:
        async with self.turn:  # after the batch under way: its heads are saved
            self.chainer.give_up(chain_key(tp.topic, tp.partition) for tp in revoked)

    async def take_over(self, assigned: set[TopicPartition]) -> None:
        """Read the heads of the assigned partitions and seek each to the offset after its
        head; keep trying while the heads cannot be read, then stop the worker."""
        chained = sorted(tp for tp in assigned if tp.topic in self.topics)
        backoff = Backoff(initial_s=0.5, max_s=10.0)
        deadline = asyncio.get_running_loop().time() + TAKE_OVER_DEADLINE_S
        async with self.turn:
            while True:
                try:
                    heads = await self.chainer.take_over(
                        chain_key(tp.topic, tp.partition) for tp in chained
                    )
                    break
                except Exception as exc:
                    if asyncio.get_running_loop().time() > deadline:
                        log.critical("could not read the chain heads: %r; stopping", exc)
                        self.fail(exc)
                        return
                    delay = backoff.next_delay()
                    log.warning("chain heads not read (%r); retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
            resume_at = {
                tp: heads[chain_key(tp.topic, tp.partition)].last_offset + 1 for tp in chained
            }
            for tp, offset in resume_at.items():
                self.consumer.seek(tp, offset)
        log.info(
            "resumed %d chained partitions from their heads: %s",
            len(chained),
            ", ".join(f"{tp.topic}/{tp.partition}@{offset}" for tp, offset in resume_at.items()),
        )


class _TakeOver(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka awaits these before the group moves on: a partition leaves this worker once
    its batch is chained, and is read, once given, from the offset after its head."""

    def __init__(self, worker: LedgerWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.give_up(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.take_over(set(assigned))


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run_worker(
    settings: LedgerSettings | None = None,
    loglevel: str = "info",
    publisher_type: type[LedgerPublisher] = LedgerPublisher,
) -> None:
    """Create the topics, then run the ledger worker until SIGTERM/SIGINT."""
    settings = settings or LedgerSettings()
    configure_logging(loglevel, json=settings.log_format is LogFormat.JSON)
    bind_process(service="ledger", consumer=settings.app_id)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port)  # the default registry, in a daemon thread
    signer = load_signer(settings)  # fail before connecting if the key is wrong
    specs = [
        *load_topic_specs(prefix=settings.topic_prefix),
        heads_topic_spec(
            settings.app_id, source_partitions(settings), settings.topic_replication_factor
        ),
    ]
    deadline = StopDeadline(settings.stop_grace_s, "ledger worker")

    async def serve() -> int:
        await ensure_topics(
            settings.kafka_bootstrap_servers, specs, security=aiokafka_security(settings)
        )
        stop = asyncio.Event()

        def on_stop_signal() -> None:
            deadline.arm()
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop_signal)
        tracing = configure_tracing("qms-ledger", settings.otlp_traces_endpoint)
        worker = LedgerWorker(settings, signer, publisher_type.from_settings(settings), tracing)
        log.info("ledger worker %s chaining %s", settings.app_id, ", ".join(worker.topics))
        return await worker.run(stop)

    try:
        code = asyncio.run(serve())
    except KafkaConnectionError as exc:  # wrong password, CA or listener: say so in one line
        raise SystemExit(f"ledger worker: {access_error(settings, exc)}") from None
    sys.exit(code)


if __name__ == "__main__":
    run_worker()
