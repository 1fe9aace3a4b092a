"""The one dead-letter contract every consumer follows (topic `deadletter.v1`).

A record a consumer cannot process deterministically (not JSON, not a valid event, a value
the store cannot hold, a bug in the per-record path) is copied to the dead-letter topic
with its original key and value and these headers, and the consumer's partition moves on.
Only failures that may pass (a store or broker outage) are retried.

    qms-dlq-reason      why it was refused, naming the field where there is one
    qms-dlq-consumer    the consumer group (app id) that refused it
    qms-dlq-topic       where it was read: topic, partition and offset
    qms-dlq-partition
    qms-dlq-offset
    qms-dlq-error       the exception class when an unexpected error refused it ("" otherwise)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from schemas.topics import DEADLETTER_TOPIC

__all__ = ["DEADLETTER_TOPIC"]  # the topic, with its contract

REASON = "qms-dlq-reason"
CONSUMER = "qms-dlq-consumer"
TOPIC = "qms-dlq-topic"
PARTITION = "qms-dlq-partition"
OFFSET = "qms-dlq-offset"
ERROR = "qms-dlq-error"

MAX_REASON_BYTES = 4000


@dataclass(frozen=True)
class RecordPosition:
    """Where a Kafka record came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    """One refused record, as it goes to the dead-letter topic."""

    position: RecordPosition
    reason: str
    consumer: str
    key: bytes | None
    value: bytes | None
    error: str = ""

    def without_value(self) -> DeadLetter:
        """The same dead letter without the original value, for one too large to copy:
        the headers still say where to find it."""
        note = " (value left out: too large for the dead-letter topic; read it at its offset)"
        return replace(self, value=None, reason=self.reason + note)

    def headers(self) -> list[tuple[str, bytes]]:
        p = self.position
        return [
            (REASON, self.reason.encode("utf-8", "replace")[:MAX_REASON_BYTES]),
            (CONSUMER, self.consumer.encode()),
            (TOPIC, p.topic.encode()),
            (PARTITION, str(p.partition).encode()),
            (OFFSET, str(p.offset).encode()),
            (ERROR, self.error.encode()),
        ]


def reason_for(exc: BaseException) -> tuple[str, str]:
    """(reason, error class) for an exception that refused a record."""
    text = str(exc) or type(exc).__name__
    return text, type(exc).__name__


def read_headers(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes]) -> dict[str, str]:
    """The contract's headers of a dead-letter record, decoded (for tests and tooling)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    wanted = {REASON, CONSUMER, TOPIC, PARTITION, OFFSET, ERROR}
    return {name: value.decode("utf-8", "replace") for name, value in items if name in wanted}
