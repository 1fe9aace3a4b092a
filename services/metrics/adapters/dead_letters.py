"""Dead letters of the metrics consumers (worker and replay) on a plain aiokafka producer."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from services.common.deadletter import DeadLetter
from services.common.kafka_errors import send_dead_letter
from services.common.service_metrics import count_dead_letter
from services.metrics.domain.rows import Rejected


def dead_letter(rejected: Rejected, consumer: str) -> DeadLetter:
    """The dead-letter record of a refused record (the one header contract)."""
    return DeadLetter(
        position=rejected.position,
        reason=rejected.reason,
        consumer=consumer,
        key=rejected.key,
        value=rejected.value,
        error=rejected.error,
    )


class KafkaDeadLetters:
    """Dead-letter sink on a plain aiokafka producer (waits for the broker's ack)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, consumer: str) -> None:
        self.producer = producer
        self.topic = topic
        self.consumer = consumer

    async def send(self, rejected: Rejected) -> None:
        await send_dead_letter(dead_letter(rejected, self.consumer), self._send)

    async def _send(self, letter: DeadLetter) -> None:
        await self.producer.send_and_wait(
            self.topic, key=letter.key, value=letter.value, headers=letter.headers()
        )
        count_dead_letter(letter)
