"""The command handler's publisher port on faust topics: acknowledged appends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from schemas.binding import to_kafka_record
from schemas.envelope import CloudEvent
from services.capa.adapters.codec import encode_sightings
from services.capa.domain.recurrence import RootCauseSighting


class KafkaCapaPublisher:
    """Acknowledged appends to `capa.v1` and the root-cause sightings topic."""

    def __init__(self, capa_topic: Any, sightings_topic: Any) -> None:
        self._capa_topic = capa_topic
        self._sightings_topic = sightings_topic

    async def publish_all(self, events: Sequence[CloudEvent]) -> None:
        """Send all in order (the producer batches them), then wait for every ack."""
        sent = []
        for event in events:
            record = to_kafka_record(event)
            sent.append(
                await self._capa_topic.send(
                    key=record.key, value=record.value, headers=record.headers
                )
            )
        await asyncio.gather(*sent)

    async def publish_sighting(self, sighting: RootCauseSighting) -> None:
        sent = await self._sightings_topic.send(
            key=sighting.key.encode(), value=encode_sightings([sighting])
        )
        await sent
