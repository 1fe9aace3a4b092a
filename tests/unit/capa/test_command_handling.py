"""The command handler against in-memory ports: typed replies and the publish-then-store rule."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.envelope import CloudEvent
from services.capa.adapters.pending_replies import Correlation, PendingReplies, WaiterGone
from services.capa.adapters.signing import load_signing_keys
from services.capa.config import DEV_USERS_FILE, CapaSettings
from services.capa.domain.commands import RecordCorrection, RecordRootCause
from services.capa.domain.evolve import fold
from services.capa.domain.recurrence import RootCauseSighting
from services.capa.domain.state import CapaState
from services.capa.entrypoints.worker import build_streams
from services.capa.service_layer.commands import handle_command, handle_commands
from services.capa.service_layer.replies import CommandAccepted, CommandRefused
from services.common.settings import Environment
from tests.unit.capa.factories import T0, given, open_capa

pytestmark = pytest.mark.unit

KEYS = load_signing_keys(DEV_USERS_FILE, Environment.DEVELOPMENT)


@dataclass
class MemoryStreams:
    streams: dict[str, list[CloudEvent]] = field(default_factory=dict)

    def loaded(self, capa_id: str) -> tuple[list[CloudEvent], CapaState | None]:
        events = self.streams.get(capa_id, [])
        return list(events), fold(events)

    def append(self, capa_id: str, events: list[CloudEvent], state: CapaState) -> None:
        assert fold(events) == state
        self.streams[capa_id] = events


@dataclass
class MemoryPublisher:
    streams: MemoryStreams
    published: list[CloudEvent] = field(default_factory=list)
    sightings: list[RootCauseSighting] = field(default_factory=list)
    fail: bool = False

    async def publish(self, event: CloudEvent) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        # Publish comes first: the table does not hold the event yet.
        assert event not in self.streams.streams.get(event.subject or "", [])
        self.published.append(event)

    async def publish_all(self, events: Sequence[CloudEvent]) -> None:
        for event in events:
            await self.publish(event)

    async def publish_sighting(self, sighting: RootCauseSighting) -> None:
        self.sightings.append(sighting)


def opened_store() -> MemoryStreams:
    _, events = given(open_capa())
    return MemoryStreams({"CAPA-1": events})


def correction(**overrides: object) -> RecordCorrection:
    fields: dict[str, object] = {
        "capa_id": "CAPA-1",
        "actor_id": "owner:H56.01",
        "actor_role": "capa_owner",
        "at": T0 + timedelta(hours=1),
        "reason": "r",
        "expected_version": 1,
        "correction": "c",
    }
    return RecordCorrection(**{**fields, **overrides})  # type: ignore[arg-type]


async def test_an_applied_command_is_published_then_stored_and_replied_typed() -> None:
    store = opened_store()
    publisher = MemoryPublisher(store)
    reply = await handle_command(correction(), store, publisher, KEYS)
    assert isinstance(reply, CommandAccepted)
    assert reply.version == 2 and reply.capa_id == "CAPA-1"
    assert [e.type for e in reply.events] == ["vn.qms.capa.correction_recorded.v1"]
    assert publisher.published == list(reply.events)
    assert store.streams["CAPA-1"][-1] == reply.events[0]


async def test_a_stale_version_is_refused_with_where_the_capa_is() -> None:
    store = opened_store()
    await handle_command(correction(), store, MemoryPublisher(store), KEYS)
    publisher = MemoryPublisher(store)
    reply = await handle_command(correction(), store, publisher, KEYS)
    assert reply == CommandRefused(
        kind="stale_version",
        detail=reply.detail if isinstance(reply, CommandRefused) else "",
        current_status="correction_recorded",
        current_version=2,
        expected_version=1,
    )
    assert publisher.published == [] and len(store.streams["CAPA-1"]) == 2


async def test_a_failed_publish_stores_nothing() -> None:
    store = opened_store()
    with pytest.raises(ConnectionError):
        await handle_command(correction(), store, MemoryPublisher(store, fail=True), KEYS)
    assert len(store.streams["CAPA-1"]) == 1  # the redelivered command decides again


def root_cause(expected_version: int) -> RecordRootCause:
    return RecordRootCause(
        capa_id="CAPA-1",
        actor_id="owner:H56.01",
        actor_role="capa_owner",
        at=T0 + timedelta(hours=2),
        reason="r",
        expected_version=expected_version,
        method="five_whys",  # type: ignore[arg-type]
        category="process",  # type: ignore[arg-type]
        text="t",
    )


async def test_a_batch_decides_each_command_on_what_the_earlier_ones_left() -> None:
    store = opened_store()
    writes: list[str] = []
    original_append = store.append

    def counting_append(capa_id: str, events: list[CloudEvent], state: CapaState) -> None:
        writes.append(capa_id)
        original_append(capa_id, events, state)

    store.append = counting_append  # type: ignore[method-assign]
    publisher = MemoryPublisher(store)
    second = root_cause(expected_version=2)  # on the version the correction produced
    stale = root_cause(expected_version=2)  # the version the first two moved past
    replies = await handle_commands([correction(), second, stale], store, publisher, KEYS)

    assert [type(r) for r in replies] == [CommandAccepted, CommandAccepted, CommandRefused]
    assert [r.version for r in replies[:2] if isinstance(r, CommandAccepted)] == [2, 3]
    refused = replies[2]
    assert isinstance(refused, CommandRefused) and refused.current_version == 3
    assert len(publisher.published) == 2  # every new event of the batch, in order
    assert publisher.published == [*replies[0].events, *replies[1].events]  # type: ignore[union-attr]
    assert writes == ["CAPA-1"]  # the table written once for the CAPA, after publishing
    assert store.streams["CAPA-1"][-2:] == publisher.published


async def test_a_failed_publish_of_a_batch_stores_none_of_it() -> None:
    store = opened_store()
    batch = [correction(), root_cause(expected_version=2)]
    with pytest.raises(ConnectionError):
        await handle_commands(batch, store, MemoryPublisher(store, fail=True), KEYS)
    assert len(store.streams["CAPA-1"]) == 1  # the redelivered batch decides again


async def test_a_root_cause_is_sighted_for_the_recurrence_index() -> None:
    store = opened_store()
    publisher = MemoryPublisher(store)
    reply = await handle_command(
        RecordRootCause(
            capa_id="CAPA-1",
            actor_id="owner:H56.01",
            actor_role="capa_owner",
            at=T0 + timedelta(hours=1),
            reason="r",
            expected_version=1,
            method="five_whys",  # type: ignore[arg-type]
            category="process",  # type: ignore[arg-type]
            text="t",
        ),
        store,
        publisher,
        KEYS,
    )
    assert isinstance(reply, CommandAccepted)
    assert [s.capa_id for s in publisher.sightings] == ["CAPA-1"]


async def test_an_unknown_capa_is_refused_as_not_found() -> None:
    reply = await handle_command(correction(capa_id="CAPA-X"), MemoryStreams(), None, KEYS)  # type: ignore[arg-type]
    assert isinstance(reply, CommandRefused) and reply.kind == "not_found"


async def test_a_reply_reaches_only_the_process_and_request_that_wait_for_it() -> None:
    replies = PendingReplies("me")
    correlation, future = replies.register(partition=0)
    assert Correlation.from_headers(dict(correlation.headers())) == correlation
    assert not replies.resolve(Correlation("someone-else", correlation.request_id), "x")
    assert not replies.resolve(None, "x")  # policy and timer commands: nobody waits
    assert replies.resolve(correlation, "decided")
    assert await future == "decided"
    assert not replies.resolve(correlation, "again")  # redelivered: already answered
    assert len(replies) == 0


async def test_waiters_on_a_partition_that_moved_fail_at_once() -> None:
    replies = PendingReplies("me")
    _, kept = replies.register(partition=0)
    _, moved = replies.register(partition=2)
    replies.fail_unless_owned({0, 1})
    with pytest.raises(WaiterGone):
        await moved
    assert not kept.done()
    replies.fail_all("stopping")
    with pytest.raises(WaiterGone):
        await asyncio.wait_for(kept, timeout=1)


async def test_a_probe_is_told_apart_from_a_command() -> None:
    replies = PendingReplies("me")
    probe, _ = replies.register(partition=1, probe=True)
    command, _ = replies.register(partition=1)
    assert Correlation.from_headers(dict(probe.headers())) == probe and probe.probe
    assert not command.probe


def test_the_worker_declares_no_reply_topic_and_advertises_its_api(tmp_path: Path) -> None:
    settings = CapaSettings.model_validate(
        {"QMS_CAPA_STATE_DIR": str(tmp_path), "QMS_CAPA_PORT": 18999, "QMS_TOPIC_PREFIX": "u."}
    )
    app = build_streams(settings).app
    assert app.conf.reply_create_topic is False
    assert str(app.conf.canonical_url) == "http://127.0.0.1:18999"
