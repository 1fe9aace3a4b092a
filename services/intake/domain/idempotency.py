"""The window of recent acceptances by (source, id), bounded by age and by size."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from services.intake.domain.acceptance import Acceptance, EventKey


class AcceptanceIndex:
    """Remembers acceptances newer than `window`, at most `max_entries` of them.

    Entries are kept in receipt order, so eviction pops from the front: the oldest
    acceptance is forgotten first, whichever bound it hits.
    """

    def __init__(self, window: timedelta, max_entries: int) -> None:
        self.window = window
        self.max_entries = max_entries
        self._entries: OrderedDict[EventKey, Acceptance] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: EventKey, now: datetime) -> Acceptance | None:
        found = self._entries.get(key)
        if found is None or found.receivedtime < now - self.window:
            return None
        return found

    def remember(self, acceptance: Acceptance) -> None:
        """Record an acceptance; the original wins: the first one, or the earlier record.

        Two copies of one event lie on the same partition (same subject, same key), so when
        replicas race the log decides: the lower offset is the original, whichever replica
        learns of which copy first.
        """
        known = self._entries.get(acceptance.key)
        if known is None:
            self._entries[acceptance.key] = acceptance
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        elif _earlier_on_same_partition(acceptance, known):
            self._entries[acceptance.key] = acceptance  # keeps the key's place in the order

    def forget_older_than(self, now: datetime) -> int:
        """Drop entries past the window; return how many were dropped."""
        cutoff = now - self.window
        dropped = 0
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if oldest.receivedtime >= cutoff:
                break
            del self._entries[key]
            dropped += 1
        return dropped


def _earlier_on_same_partition(candidate: Acceptance, known: Acceptance) -> bool:
    return (
        candidate.topic == known.topic
        and candidate.partition == known.partition
        and candidate.offset < known.offset
    )
