"""CAPA commands onto capa.commands.v1 with an idempotent aiokafka producer (acks=all)."""

from __future__ import annotations

from types import TracebackType

from aiokafka import AIOKafkaProducer

from schemas.topics import CAPA_COMMANDS_TOPIC
from services.capa.service_layer.policies import Outgoing
from services.common.kafka_security import aiokafka_security
from services.metrics.config import MetricsSettings


class KafkaCapaCommands:
    """Sends each command keyed by its CAPA id and returns once the broker acknowledged it."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.topic = settings.topic(CAPA_COMMANDS_TOPIC)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            **aiokafka_security(settings),
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
