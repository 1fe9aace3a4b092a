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
        """Record an acceptance; the first one for a key wins (it is the original)."""
        if acceptance.key not in self._entries:
            self._entries[acceptance.key] = acceptance
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

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
