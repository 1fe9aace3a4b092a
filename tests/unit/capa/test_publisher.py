"""The publisher adapter against a fake faust producer: order, acks awaited, the record bytes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import faust
import pytest

from schemas.binding import to_kafka_record
from schemas.capa import RootCauseCategory
from services.capa.adapters.codec import encode_sightings
from services.capa.adapters.publisher import FaustRecords, KafkaCapaPublisher
from services.capa.domain.recurrence import RootCauseSighting
from tests.unit.capa.factories import T0, given, open_capa

pytestmark = pytest.mark.unit


@dataclass
class FakeProducer:
    """Records each send; its ack resolves only when the test says the broker answered."""

    sent: list[tuple[str, bytes, bytes, Any]] = field(default_factory=list)
    acks: list[asyncio.Future[None]] = field(default_factory=list)

    async def send(self, topic: str, **record: Any) -> asyncio.Future[None]:
        assert record["partition"] is None  # the default partitioner: the key decides
        self.sent.append((topic, record["key"], record["value"], record["headers"]))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


@dataclass
class FakeApp:
    producer: FakeProducer = field(default_factory=FakeProducer)

    async def maybe_start_producer(self) -> FakeProducer:
        return self.producer


def publisher(app: FakeApp) -> KafkaCapaPublisher:
    return KafkaCapaPublisher(FaustRecords(cast(faust.App, app)), "capa.v1", "sightings")


async def test_publish_all_sends_in_order_and_returns_only_once_every_ack_came() -> None:
    app = FakeApp()
    _, events = given(open_capa())
    events = [*events, *given(open_capa(capa_id="CAPA-2"))[1]]
    task = asyncio.create_task(publisher(app).publish_all(events))
    await asyncio.sleep(0)
    records = [to_kafka_record(e) for e in events]
    assert app.producer.sent == [("capa.v1", r.key, r.value, r.headers) for r in records]
    app.producer.acks[1].set_result(None)
    await asyncio.sleep(0)
    assert not task.done()  # the first record is not acknowledged yet
    app.producer.acks[0].set_result(None)
    await asyncio.wait_for(task, 1)


async def test_a_failed_ack_fails_the_publish() -> None:
    app = FakeApp()
    task = asyncio.create_task(publisher(app).publish_all(given(open_capa())[1]))
    await asyncio.sleep(0)
    app.producer.acks[0].set_exception(ConnectionError("broker unreachable"))
    with pytest.raises(ConnectionError):
        await task


async def test_nothing_to_publish_sends_nothing() -> None:
    app = FakeApp()
    await publisher(app).publish_all([])
    assert app.producer.sent == []


async def test_a_sighting_goes_to_its_topic_under_its_key() -> None:
    app = FakeApp()
    sighting = RootCauseSighting("CAPA-1", "H56.01", "1.000123", RootCauseCategory.PROCESS, T0)
    task = asyncio.create_task(publisher(app).publish_sighting(sighting))
    await asyncio.sleep(0)
    app.producer.acks[0].set_result(None)
    await task
    assert app.producer.sent == [
        ("sightings", sighting.key.encode(), encode_sightings([sighting]), None)
    ]
