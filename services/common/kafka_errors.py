"""Telling Kafka producer failures apart: most pass (retry), a record too large never does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka.errors import MessageSizeTooLargeError

from services.common.deadletter import DeadLetter


def message_too_large(error: BaseException) -> bool:
    """True when the broker or the client refuses the record for its size (faust wraps
    aiokafka's error in its own, so the causes are looked at too)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MessageSizeTooLargeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def send_dead_letter(
    letter: DeadLetter, produce: Callable[[DeadLetter], Awaitable[None]]
) -> None:
    """Produce a dead letter; one too large for its topic goes once more without its value
    (never retried as it is: it would never pass). Any other failure is the caller's to retry."""
    try:
        await produce(letter)
    except Exception as exc:
        if not message_too_large(exc):
            raise  # transient: the caller retries
        await produce(letter.without_value())
