"""QMS Trail event contracts: CloudEvents 1.0 envelopes and every v1 event family."""

from schemas.binding import KafkaRecord, event_to_json, from_kafka_value, to_kafka_record
from schemas.catalogue import (
    ALL_EVENTS,
    EVENT_TYPES,
    FAMILY_TOPICS,
    EventValidationError,
    FieldError,
    family_of,
    parse_event,
    topic_for,
)
from schemas.envelope import CloudEvent

__all__ = [
    "ALL_EVENTS",
    "EVENT_TYPES",
    "FAMILY_TOPICS",
    "CloudEvent",
    "EventValidationError",
    "FieldError",
    "KafkaRecord",
    "event_to_json",
    "family_of",
    "from_kafka_value",
    "parse_event",
    "to_kafka_record",
    "topic_for",
]
