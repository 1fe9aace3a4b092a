"""The command path: HTTP command → commands topic → the partition owner's agent → the caller.

    HTTP API ──send (key: CAPA id, partition p, correlation headers)──▶ capa.commands.v1
        ▲                                                                  │
        └── PendingReplies.resolve ◀── command agent (this process owns p) ┘

An HTTP command is only sent by the process that owns its partition (the API and the worker
share one process), so the agent that decides it resolves the caller's future in memory:
no reply topic, nothing per process start on the broker. A process that does not own the
partition says so (`NotOwner`, with the owner's URL from faust's assignor when known); the
API forwards the request there or answers 503 with Retry-After. When the partition moves
while a command waits, or the process stops, the caller gets `NoDecision` (503, Retry-After)
at once; the command may still be decided by the new owner, so a retry carries an expected
version and is refused as stale (409) rather than applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.types import TP, EventT

from schemas.envelope import CloudEvent
from services.capa.adapters.codec import decode_command, encode_command
from services.capa.adapters.pending_replies import Correlation, PendingReplies, WaiterGone
from services.capa.domain.commands import Command
from services.capa.domain.signatures import SigningKeys
from services.capa.domain.state import CapaState
from services.capa.service_layer.commands import (
    INTERNAL_ERROR,
    CapaPublisher,
    CapaStreams,
)
from services.capa.service_layer.commands import handle_commands as handle_batch
from services.capa.service_layer.replies import CommandAccepted, CommandRefused, CommandReply
from services.common.deadletter import DeadLetter, RecordPosition, reason_for
from services.common.service_metrics import count_dead_letter

log = logging.getLogger(__name__)

PROBE_KEY = b"readiness-probe"
SETTLE_POLL_S = 0.05
# A batch of commands: what the consumer fetched, at most this many, or what came within
# this time (an HTTP command waits that much longer for its decision at most).
BATCH_MAX = 500
BATCH_WITHIN_S = 0.005


class BatchStreams:
    """The table for one batch: a CAPA's stream is written under the partition of its last
    command in the batch (faust takes a table write's partition, changelog and RocksDB,
    from the current event, and a batch has none)."""

    def __init__(self, streams: CapaStreams, last_event: Mapping[str, EventT[Any]]) -> None:
        self._streams = streams
        self._last_event = last_event

    def loaded(self, capa_id: str) -> tuple[list[CloudEvent], CapaState | None]:
        return self._streams.loaded(capa_id)

    def append(self, capa_id: str, events: list[CloudEvent], state: CapaState) -> None:
        token = faust.streams._current_event.set(weakref.ref(self._last_event[capa_id]))
        try:
            self._streams.append(capa_id, events, state)
        finally:
            faust.streams._current_event.reset(token)


class NotOwner(Exception):
    """This process does not own the CAPA's partition (or holds no assignment yet)."""

    def __init__(self, detail: str, owner_url: str | None) -> None:
        self.owner_url = owner_url
        super().__init__(detail)


class NoDecision(Exception):
    """The command was sent but its decision will not reach this caller (503, Retry-After)."""


@dataclass(frozen=True)
class Probed:
    """A readiness probe came back through the command agent."""


@dataclass
class CommandPath:
    """Send commands to the partition that owns the CAPA and wait for their decision."""

    app: faust.App
    topic: Any  # the faust commands topic
    replies: PendingReplies
    timeout_s: float

    @property
    def topic_name(self) -> str:
        return str(self.topic.get_topic_name())

    def owned_partitions(self) -> set[int]:
        """The commands partitions this process consumes now."""
        return {
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic == self.topic_name
        }

    def settled(self) -> bool:
        """Started, not rebalancing, tables recovered: the agents consume."""
        app = self.app
        recovery = getattr(app.tables, "recovery", None) if app.started else None
        return bool(
            app.started
            and not app.rebalancing
            and recovery is not None
            and recovery.completed.is_set()
        )

    def owner_url(self, key: bytes) -> str | None:
        """The URL (faust `canonical_url`) of the worker owning `key`'s partition, if known."""
        try:
            return str(self.app.router.external_topic_key_store(self.topic, key))
        except Exception:  # no assignment yet, or the topic's metadata is not known
            return None

    async def wait_settled(self) -> bool:
        """Wait (at most the command timeout) for a rebalance or start-up under way to end."""
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while not self.settled():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(SETTLE_POLL_S)
        return True

    async def local_partition(self, key: bytes) -> int:
        """The partition of `key` when this process owns it and consumes; else NotOwner."""
        if not await self.wait_settled():
            raise NotOwner("the CAPA worker is starting or rebalancing", None)
        try:
            partition = await self.partition_of(key)
        except Exception as exc:  # the broker did not tell the topic's partitions in time
            raise NotOwner(f"partition of the command unknown yet: {exc}", None) from exc
        if partition is None or partition not in self.owned_partitions():
            raise NotOwner(f"partition {partition} is owned by another worker", self.owner_url(key))
        return int(partition)

    async def partition_of(self, key: bytes) -> int | None:
        """The commands partition of `key`, as the producer's partitioner picks it.

        The producer learns a topic's partitions when it first sends to it: before this
        process's first command, ask the broker for them (bounded by the command timeout).
        """
        producer: Any = self.app.producer
        client = producer._ensure_producer()  # the aiokafka producer under faust's
        if client._metadata.partitions_for_topic(self.topic_name) is None:
            async with asyncio.timeout(self.timeout_s):
                await client.partitions_for(self.topic_name)
        partition = producer.key_partition(self.topic_name, key).partition
        return None if partition is None else int(partition)

    async def _send_and_wait(self, key: bytes, value: bytes, partition: int, probe: bool) -> Any:
        correlation, future = self.replies.register(partition, probe=probe)
        try:
            async with asyncio.timeout(self.timeout_s):
                sent = await self.topic.send(
                    key=key, value=value, partition=partition, headers=correlation.headers()
                )
                await sent
                return await future
        except (TimeoutError, WaiterGone) as exc:
            raise NoDecision(str(exc) or f"no decision within {self.timeout_s:g} s") from exc
        finally:
            self.replies.forget(correlation)

    async def execute(self, command: Command) -> CommandReply:
        """Decide `command` on the owning partition of this process; raises NotOwner/NoDecision."""
        key = command.capa_id.encode()
        partition = await self.local_partition(key)
        reply = await self._send_and_wait(key, encode_command(command), partition, probe=False)
        if not isinstance(reply, (CommandAccepted, CommandRefused)):
            raise NoDecision(f"unexpected reply {reply!r}")
        return reply

    async def probe(self) -> str | None:
        """None when a probe went through the agent of every owned partition; else why not."""
        if not self.settled():
            return "the CAPA worker is starting or rebalancing"
        owned = self.owned_partitions()
        if not owned:
            return "this worker holds no command partition"
        try:
            await asyncio.gather(
                *(self._send_and_wait(PROBE_KEY, b"{}", p, probe=True) for p in sorted(owned))
            )
        except NoDecision as exc:
            return f"a probe command did not come back: {exc}"
        return None

    def on_assignment(self, assigned: set[TP]) -> None:
        """Callers waiting on partitions that moved away get NoDecision now, not at timeout."""
        self.replies.fail_unless_owned(
            {tp.partition for tp in assigned if tp.topic == self.topic_name}
        )


def register_command_agent(
    app: faust.App,
    path: CommandPath,
    streams: CapaStreams,
    publisher: CapaPublisher,
    deadletter_topic: Any,
    consumer: str,
    keys: SigningKeys,
) -> Any:
    """Declare the agent deciding the commands of the partitions this process owns."""

    async def dead_letter(event: Any, reason: str, error: str) -> None:
        message = event.message
        letter = DeadLetter(
            RecordPosition(str(message.topic), int(message.partition), int(message.offset)),
            reason,
            consumer,
            message.key,
            event.value,
            error,
        )
        log.warning("dead-lettering command %s: %s", letter.position, reason)
        sent = await deadletter_topic.send(
            key=letter.key, value=letter.value, headers=letter.headers()
        )
        await sent
        count_dead_letter(letter)

    async def decide_batch(batch: Sequence[EventT[Any]]) -> None:
        """Decide a batch of commands in order; hand each reply to its caller here."""
        waiting: list[tuple[EventT[Any], Correlation | None, Command]] = []
        unreadable: list[tuple[Correlation | None, CommandRefused]] = []
        for event in batch:
            correlation = Correlation.from_headers(event.headers)
            if correlation is not None and correlation.probe:
                path.replies.resolve(correlation, Probed())
                continue
            try:
                command = decode_command(event.value)
            except (ValueError, KeyError, TypeError) as exc:
                reason, error = reason_for(exc)
                refused = CommandRefused("invalid_command", f"unreadable command: {reason}")
                await dead_letter(event, refused.detail, error)
                unreadable.append((correlation, refused))
            else:
                waiting.append((event, correlation, command))
        for correlation, refused in unreadable:
            path.replies.resolve(correlation, refused)
        if not waiting:
            return
        last_event = {command.capa_id: event for event, _, command in waiting}
        replies = await handle_batch(
            [command for _, _, command in waiting],
            BatchStreams(streams, last_event),
            publisher,
            keys,
        )
        for (event, correlation, _), reply in zip(waiting, replies, strict=True):
            if isinstance(reply, CommandRefused) and reply.kind == INTERNAL_ERROR:
                await dead_letter(event, reply.detail, INTERNAL_ERROR)
            path.replies.resolve(correlation, reply)

    async def handle_commands(stream: Any) -> None:
        """Decide the commands in batches; acked (offsets committable) once stored."""
        manual = cast("faust.Stream[Any]", stream)
        async for taken in manual.noack_take(BATCH_MAX, within=BATCH_WITHIN_S):
            batch = cast("list[EventT[Any]]", taken)  # noack_take yields the events
            await decide_batch(batch)
            for event in batch:
                await manual.ack(event)  # only now may faust commit their offsets

    agent = app.agent(path.topic)(handle_commands)

    async def fail_moved_commands(sender: Any, assigned: set[TP], **_: Any) -> None:
        path.on_assignment(assigned)

    app.on_partitions_assigned.connect(fail_moved_commands)  # type: ignore[arg-type]

    return agent
