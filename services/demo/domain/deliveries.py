"""Events as delivered, counted once: the rule every ground-truth fold starts from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from schemas.envelope import CloudEvent


def once_each(events: Iterable[CloudEvent]) -> Iterator[CloudEvent]:
    """Each event the first time its `(source, id)` comes (a redelivery is the same event)."""
    seen: set[tuple[str, str]] = set()
    for event in events:
        if (event.source, event.id) not in seen:
            seen.add((event.source, event.id))
            yield event
