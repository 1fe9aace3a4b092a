"""The command handler's publisher port on the faust app's producer: acknowledged appends.

Records go straight to the app's producer (`maybe_start_producer().send`), not through
faust's `Topic.send`: that path wraps every record in a pending message, a future message
and a sensor callback, a third of the cost of a send in the CAPA worker's profile, and
gives nothing here (the topics are created before the workers start, the values are
bytes already). Same producer, same default partitioner, so a CAPA's records still land
on the partition its id names, in the order they are sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust

from schemas.binding import to_kafka_record
from schemas.envelope import CloudEvent
from services.capa.adapters.codec import encode_sightings
from services.capa.domain.recurrence import RootCauseSighting

Headers = list[tuple[str, bytes]]
Record = tuple[bytes, bytes, Headers | None]  # key, value, headers


class FaustRecords:
    """Sends raw records through a faust app's producer; `send_all` waits for every ack."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send_all(self, topic: str, records: Sequence[Record]) -> None:
        """Send every record in order, then wait until all are acknowledged."""
        if not records:
            return
        producer = await self._app.maybe_start_producer()
        sent = [
            await producer.send(
                topic, key=key, value=value, partition=None, timestamp=None, headers=headers
            )
            for key, value, headers in records
        ]
        await asyncio.gather(*sent)


class KafkaCapaPublisher:
    """Acknowledged appends to `capa.v1` and the root-cause sightings topic."""

    def __init__(self, records: FaustRecords, capa_topic: str, sightings_topic: str) -> None:
        self._records = records
        self._capa_topic = capa_topic
        self._sightings_topic = sightings_topic

    async def publish_all(self, events: Sequence[CloudEvent]) -> None:
        """Send all in order (the producer batches them), then wait for every ack."""
        records = [to_kafka_record(e) for e in events]
        await self._records.send_all(
            self._capa_topic, [(r.key, r.value, r.headers) for r in records]
        )

    async def publish_sighting(self, sighting: RootCauseSighting) -> None:
        await self._records.send_all(
            self._sightings_topic,
            [(sighting.key.encode(), encode_sightings([sighting]), None)],
        )
