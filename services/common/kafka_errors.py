"""Telling Kafka producer failures apart: most pass (retry), a record too large never does."""

from __future__ import annotations

from aiokafka.errors import MessageSizeTooLargeError


def message_too_large(error: BaseException) -> bool:
    """True when the broker or the client refuses the record for its size (faust wraps
    aiokafka's error in its own, so the causes are looked at too)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MessageSizeTooLargeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
