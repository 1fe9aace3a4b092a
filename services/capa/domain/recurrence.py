"""Recurrence: the same agency, process and root-cause category within twelve months."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.capa import RootCauseCategory

RECURRENCE_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class RootCauseSighting:
    """One CAPA whose root cause was recorded, placed by when its nonconformity arose."""

    capa_id: str
    agency: str
    process: str
    category: RootCauseCategory
    opened_at: datetime

    @property
    def key(self) -> str:
        return recurrence_key(self.agency, self.process, self.category)


def recurrence_key(agency: str, process: str, category: RootCauseCategory) -> str:
    return f"{agency}|{process}|{category.value}"


@dataclass(frozen=True)
class Recurrence:
    """`later` recurs `earlier`."""

    later: RootCauseSighting
    earlier: RootCauseSighting


def find_recurrence(
    known: Sequence[RootCauseSighting], new: RootCauseSighting
) -> Recurrence | None:
    """The closest other sighting of the same key within the window, ordered in time."""
    near = [
        s
        for s in known
        if s.key == new.key
        and s.capa_id != new.capa_id
        and abs(s.opened_at - new.opened_at) <= RECURRENCE_WINDOW
    ]
    if not near:
        return None
    closest = min(near, key=lambda s: (abs(s.opened_at - new.opened_at), s.capa_id))
    if (closest.opened_at, closest.capa_id) <= (new.opened_at, new.capa_id):
        return Recurrence(later=new, earlier=closest)
    return Recurrence(later=closest, earlier=new)


def remember(known: Sequence[RootCauseSighting], new: RootCauseSighting) -> list[RootCauseSighting]:
    """The index with `new` in it (a CAPA appears once; a revised root cause replaces it)."""
    horizon = new.opened_at - 2 * RECURRENCE_WINDOW  # older sightings can never match again
    kept = [s for s in known if s.capa_id != new.capa_id and s.opened_at >= horizon]
    return [*kept, new]
