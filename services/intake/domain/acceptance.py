"""What intake tells a publisher about an event it appended: where it lies and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

EventKey = tuple[str, str]
"""(source, id): the CloudEvents identity and intake's idempotency key."""


class Acceptance(NamedTuple):
    """An event appended to Kafka and acknowledged by every in-sync replica.

    A NamedTuple rather than a frozen dataclass: one is built per accepted event on the hot
    path, and a tuple is several times cheaper to create.
    """

    id: str
    source: str
    topic: str
    partition: int
    offset: int
    receivedtime: datetime
    content: bytes  # digest of the event as its publisher sent it (service_layer.content)

    @property
    def key(self) -> EventKey:
        return (self.source, self.id)

    def as_json(self, *, duplicate: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "receivedtime": self.receivedtime.isoformat(),
            "duplicate": duplicate,
        }
