"""A dead letter too large for its topic goes without its value, never retried as it is."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from services.common.deadletter import REASON, DeadLetter, RecordPosition, read_headers
from services.common.kafka_errors import message_too_large

pytestmark = pytest.mark.unit


class WrappedSendError(Exception):
    """As faust wraps aiokafka's error."""


def test_a_size_refusal_is_recognised_through_the_wrapping_and_nothing_else_is() -> None:
    try:
        try:
            raise MessageSizeTooLargeError("1048700 bytes")
        except MessageSizeTooLargeError as exc:
            raise WrappedSendError("Error while sending") from exc
    except WrappedSendError as wrapped:
        assert message_too_large(wrapped)
    assert not message_too_large(KafkaConnectionError("broker away"))
    assert not message_too_large(ValueError("x"))


def test_without_value_keeps_where_the_record_is_and_says_why() -> None:
    letter = DeadLetter(
        RecordPosition("qms.dossier.v1", 2, 41), "time: …", "qms.metrics", b"k", b"v" * 10
    )
    smaller = letter.without_value()
    assert smaller.value is None and smaller.key == b"k" and smaller.position == letter.position
    assert read_headers(smaller.headers())[REASON].startswith("time: … (value left out")
