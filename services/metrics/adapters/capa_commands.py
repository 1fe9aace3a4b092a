"""CAPA commands onto capa.commands.v1 with an idempotent aiokafka producer (acks=all)."""

from __future__ import annotations

from types import TracebackType

from aiokafka import AIOKafkaProducer

from schemas.topics import CAPA_COMMANDS_TOPIC
from services.capa.service_layer.policies import Outgoing
from services.common.kafka_security import kafka_client_options
from services.metrics.config import MetricsSettings


class KafkaCapaCommands:
    """Sends each command keyed by its CAPA id and returns once the broker acknowledged it."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.topic = settings.topic(CAPA_COMMANDS_TOPIC)
        self._producer = AIOKafkaProducer(
            **kafka_client_options(settings), acks="all", enable_idempotence=True
        )

    async def __aenter__(self) -> KafkaCapaCommands:
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._producer.stop()

    async def send(self, command: Outgoing) -> None:
        await self._producer.send_and_wait(self.topic, key=command.key, value=command.value)
