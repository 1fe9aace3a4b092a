"""Admit events (validate, authorise, stamp) and append them once: the intake use case."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from schemas import FieldError
from services.intake.domain.acceptance import Acceptance, EventKey
from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.domain.publishers import Publisher
from services.intake.service_layer.admission import (
    Admission,
    Admitted,
    BatchAdmission,
    Refused,
    admit_batch_body,
    admit_event,
)
from services.intake.service_layer.ports import AcceptanceFeed, EventLog, Position


class Accepted(NamedTuple):
    """An event on the log: appended now, or earlier (`duplicate`)."""

    acceptance: Acceptance
    duplicate: bool
    family: str


Outcome = Accepted | Refused

log = logging.getLogger(__name__)

__all__ = ["Accepted", "Admission", "Admitted", "Outcome", "PublishingService", "Refused"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class PublishingService:
    """The one place that decides whether an event goes on the log, and puts it there once."""

    def __init__(
        self,
        log: EventLog,
        index: AcceptanceIndex,
        *,
        topic_prefix: str,
        max_future_skew: timedelta,
        clock: Callable[[], datetime] = utc_now,
        executor: Executor | None = None,
        executor_min_bytes: int = 32 * 1024,
        feed: AcceptanceFeed | None = None,
    ) -> None:
        self.log = log
        # With several replicas: the window also holds what the others accepted (None: this
        # process is the only writer, its own acceptances are the whole window).
        self.feed = feed
        # Batches of at least `executor_min_bytes` are admitted in `executor` (a process
        # pool), so validation runs beside the event loop rather than on it.
        self.executor = executor
        self.executor_min_bytes = executor_min_bytes
        self.index = index
        self.topic_prefix = topic_prefix
        self.max_future_skew = max_future_skew
        self.clock = clock
        # Keys being appended right now, each mapped to the future of the append call that
        # carries it: a concurrent duplicate waits for that call and reads its acceptances.
        self._in_flight: dict[EventKey, asyncio.Future[Mapping[EventKey, Acceptance]]] = {}

    def admit(
        self,
        raw: Any,
        publisher: Publisher,
        now: datetime,
        latest: datetime | None = None,
        traceparent: str | None = None,
    ) -> Admission:
        """Validate, authorise and stamp one event, or say why not (no I/O)."""
        latest = latest or now + self.max_future_skew
        return admit_event(raw, publisher, now, latest, self.topic_prefix, traceparent)

    async def admit_body(
        self, body: bytes, publisher: Publisher, max_events: int, traceparent: str | None = None
    ) -> BatchAdmission:
        """Parse and admit a batch body, in the worker pool when there is one."""
        now = self.clock()
        latest = now + self.max_future_skew
        arguments = (body, publisher, now, latest, self.topic_prefix, max_events, traceparent)
        if self.executor is not None and len(body) >= self.executor_min_bytes:
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self.executor, admit_batch_body, *arguments
                )
            except BrokenExecutor:
                log.exception("admission worker pool broken; admitting in-process from now on")
                self.executor = None
        return admit_batch_body(*arguments)

    def admit_all(
        self, raws: Sequence[Any], publisher: Publisher, traceparent: str | None = None
    ) -> list[Admission]:
        now = self.clock()
        latest = now + self.max_future_skew
        return [self.admit(raw, publisher, now, latest, traceparent) for raw in raws]

    async def append(self, admissions: Sequence[Admission]) -> list[Outcome]:
        """Append the admitted events not already accepted; one outcome per admission.

        An event whose (source, id) is already accepted is answered with the original
        acceptance when its content is the same, and refused (409) when it differs.
        """
        now = self.clock()
        self.index.forget_older_than(now)  # cheap: stops at the first entry still inside
        outcomes: list[Outcome | None] = [None] * len(admissions)
        call: asyncio.Future[Mapping[EventKey, Acceptance]] = (
            asyncio.get_running_loop().create_future()
        )
        to_send: list[tuple[int, Admitted]] = []
        to_wait: list[tuple[int, Admitted, asyncio.Future[Mapping[EventKey, Acceptance]]]] = []
        for index, admission in enumerate(admissions):
            if isinstance(admission, Refused):
                outcomes[index] = admission
                continue
            known = self.index.get(admission.key, now)
            if known is not None:
                outcomes[index] = _resent(known, admission)
            elif admission.key in self._in_flight:
                to_wait.append((index, admission, self._in_flight[admission.key]))
            else:
                self._in_flight[admission.key] = call
                to_send.append((index, admission))
        appended: dict[EventKey, Acceptance] = {}
        try:
            results = await self.log.append([admitted.record for _, admitted in to_send])
            for (index, admitted), result in zip(to_send, results, strict=True):
                if isinstance(result, Position):
                    acceptance = _acceptance(admitted, result)
                    self.index.remember(acceptance)
                    appended[admitted.key] = acceptance
                    outcomes[index] = Accepted(acceptance, False, admitted.family)
                else:
                    outcomes[index] = _unavailable(admitted, result)
            if self.feed is not None and appended:
                await self._defer_to_earlier_copies(to_send, appended, outcomes, now)
        finally:
            for _, admitted in to_send:
                if self._in_flight.get(admitted.key) is call:
                    del self._in_flight[admitted.key]
            call.set_result(appended)

        for index, admitted, pending in to_wait:
            # The original's own answer first: the index may already have evicted it.
            original = (await pending).get(admitted.key) or self.index.get(admitted.key, now)
            outcomes[index] = (
                _resent(original, admitted)
                if original is not None
                else _unavailable(admitted, None)
            )
        return [outcome for outcome in outcomes if outcome is not None]

    async def _defer_to_earlier_copies(
        self,
        sent: Sequence[tuple[int, Admitted]],
        appended: dict[EventKey, Acceptance],
        outcomes: list[Outcome | None],
        now: datetime,
    ) -> None:
        """Another replica may have written the same event first, meanwhile: read the log
        up to our records, and answer an event whose earlier copy lies there as a duplicate
        of that copy (the one every replica calls the original; ours is a redundant copy the
        consumers, idempotent on source and id, absorb)."""
        assert self.feed is not None
        positions = [Position(a.topic, a.partition, a.offset) for a in appended.values()]
        self.feed.appended(positions)
        if not await self.feed.caught_up(positions):
            log.warning("the shared window did not catch up; answering without other replicas")
            return
        for index, admitted in sent:
            ours = appended.get(admitted.key)
            original = self.index.get(admitted.key, now)
            if ours is not None and original is not None and _earlier_copy(original, ours):
                appended[admitted.key] = original
                outcomes[index] = _resent(original, admitted)

    def conflicts(self, admissions: Sequence[Admission]) -> list[tuple[int, Refused]]:
        """The admitted events that would be refused 409, found before anything is appended.

        For all-or-nothing batches: an id accepted before with other content, or sent
        twice in the batch with two contents.
        """
        now = self.clock()
        first: dict[EventKey, Admitted] = {}
        found: list[tuple[int, Refused]] = []
        for index, admission in enumerate(admissions):
            if isinstance(admission, Refused):
                continue
            # The same answers `append` gives: against the accepted original when there is
            # one, else against the batch's first copy.
            known = self.index.get(admission.key, now)
            if known is not None:
                outcome = _resent(known, admission)
                if isinstance(outcome, Refused):
                    found.append((index, outcome))
            elif first.setdefault(admission.key, admission).content != admission.content:
                found.append((index, _conflict(admission, "is in this batch with other content")))
        return found

    async def publish(
        self, raws: Sequence[Any], publisher: Publisher, traceparent: str | None = None
    ) -> list[Outcome]:
        """Admit then append (per item: refused items are left out of the log)."""
        return await self.append(self.admit_all(raws, publisher, traceparent))


def _acceptance(admitted: Admitted, position: Position) -> Acceptance:
    source, event_id = admitted.key
    return Acceptance(
        event_id,
        source,
        position.topic,
        position.partition,
        position.offset,
        admitted.receivedtime,
        admitted.content,
    )


def _earlier_copy(original: Acceptance, ours: Acceptance) -> bool:
    return (original.topic, original.partition) == (ours.topic, ours.partition) and (
        original.offset < ours.offset
    )


def _resent(original: Acceptance, admitted: Admitted) -> Outcome:
    """A second event with an accepted (source, id): a duplicate if equal, else a conflict."""
    if original.content == admitted.content:
        return Accepted(original, True, admitted.family)
    where = f"{original.topic} partition {original.partition} offset {original.offset}"
    return _conflict(admitted, f"was accepted before with other content ({where})")


def _conflict(admitted: Admitted, what: str) -> Refused:
    source, event_id = admitted.key
    reason = f"id {event_id!r} of source {source!r} {what}; a different event needs a new id"
    return Refused(409, "conflict", [FieldError("id", reason)], event_id)


def _unavailable(admitted: Admitted, error: BaseException | None) -> Refused:
    cause = type(error).__name__ if error else "the original attempt failed"
    detail = (
        f"the event log did not acknowledge the event ({cause}); "
        "retry: an event accepted meanwhile is answered as a duplicate"
    )
    return Refused(503, "unavailable", [FieldError("", detail)], admitted.key[1])
