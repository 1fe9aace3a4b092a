"""CloudEvents Kafka protocol binding, structured content mode.

The record value is the whole envelope as JSON, the record key the subject (so every
aggregate keeps its order), and `content-type` says it is a structured CloudEvent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from schemas.catalogue import parse_event
from schemas.envelope import CloudEvent

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


@dataclass(frozen=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def event_to_json(event: CloudEvent) -> dict[str, Any]:
    """The event as a JSON-ready dict (absent optional attributes left out)."""
    return event.model_dump(mode="json", exclude_none=True)


def to_kafka_record(event: CloudEvent) -> KafkaRecord:
    value = json.dumps(event_to_json(event), ensure_ascii=False, separators=(",", ":"))
    return KafkaRecord(
        key=event.subject.encode(),
        value=value.encode(),
        headers=[("content-type", STRUCTURED_CONTENT_TYPE.encode())],
    )


def from_kafka_value(value: bytes) -> CloudEvent:
    """Parse a record value written by `to_kafka_record` (unknown fields ignored)."""
    return parse_event(json.loads(value))
