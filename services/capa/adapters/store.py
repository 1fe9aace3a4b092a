"""Read side over the table of CAPA event streams, with a per-CAPA cache of the fold.

The table (a faust Table on RocksDB, changelog-backed) maps a CAPA id to its whole event
stream; the state is always the fold of that stream, so reads and replays agree by
construction. Only the commands agent writes the table (`append`, called from inside it:
faust tables are written in an agent only); the HTTP API reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from schemas.envelope import CloudEvent
from services.capa.adapters.codec import decode_events, encode_events, extend_events
from services.capa.domain.evolve import fold
from services.capa.domain.state import CapaState


def _key(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _extends(events: list[CloudEvent], cached: list[CloudEvent]) -> bool:
    """True when `events` starts with the very event objects of `cached`."""
    return len(events) >= len(cached) and all(
        a is b for a, b in zip(events[: len(cached)], cached, strict=True)
    )


class CapaStore:
    """Events and folded states of the CAPAs whose partitions this worker holds."""

    def __init__(self, table: MutableMapping[Any, Any]) -> None:
        self._table = table
        self._cache: dict[str, tuple[bytes, list[CloudEvent], CapaState | None]] = {}

    def _load(self, capa_id: str, raw: bytes | None) -> tuple[list[CloudEvent], CapaState | None]:
        if raw is None:
            self._cache.pop(capa_id, None)
            return [], None
        cached = self._cache.get(capa_id)
        if cached is not None and cached[0] == raw:
            return cached[1], cached[2]
        events = decode_events(raw)
        state = fold(events)
        self._cache[capa_id] = (raw, events, state)
        return events, state

    def loaded(self, capa_id: str) -> tuple[list[CloudEvent], CapaState | None]:
        """Events and state of one CAPA, parsed once per table value (the agent's hot path)."""
        return self._load(capa_id, self._table.get(capa_id))

    def append(self, capa_id: str, events: list[CloudEvent], state: CapaState) -> None:
        """Store the CAPA's whole stream; cache its fold so the next command does not parse it.

        When `events` extends the cached stream (the command path loads, decides, appends),
        only the new events are serialised onto the cached bytes."""
        cached = self._cache.get(capa_id)
        raw = None
        if cached is not None and _extends(events, cached[1]):
            try:
                raw = extend_events(cached[0], events[len(cached[1]) :])
            except ValueError:  # bytes another writer formatted: encode the whole stream
                raw = None
        if raw is None:
            raw = encode_events(events)
        self._table[capa_id] = raw
        self._cache[capa_id] = (raw, events, state)

    def events(self, capa_id: str) -> list[CloudEvent]:
        return self._load(capa_id, self._table.get(capa_id))[0]

    def state(self, capa_id: str) -> CapaState | None:
        return self._load(capa_id, self._table.get(capa_id))[1]

    def states(self) -> Iterator[CapaState]:
        """Every CAPA of the partitions this worker actively owns."""
        for raw_key, raw in list(self._table.items()):
            state = self._load(_key(raw_key), raw)[1]
            if state is not None:
                yield state
