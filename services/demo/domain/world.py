"""What every part of the generator shares: the seeded random source, office time, the sink.

The sink keeps each event with its office minute; the province sorts them into one
global time order at the end.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from random import Random
from typing import Any

from schemas.catalogue import event_type_of
from schemas.envelope import CloudEvent
from services.demo.domain.calendar import MINUTES_PER_DAY, WorkingCalendar

ONE_STOP_SHOP = "urn:vn:gov:h56:one-stop-shop"
CITIZEN_FEEDBACK = "urn:vn:gov:h56:citizen-feedback"
SATISFACTION_SURVEY = "urn:vn:gov:h56:satisfaction-survey"
ISO_SECRETARIAT = "urn:vn:gov:h56:iso-secretariat"

DAY = MINUTES_PER_DAY


@dataclass
class World:
    """Seeded randomness, the working calendar and the events produced so far."""

    rng: Random
    calendar: WorkingCalendar
    officers: dict[str, list[str]] = field(default_factory=dict)
    _events: list[tuple[int, int, CloudEvent]] = field(default_factory=list)

    def hex_id(self, prefix: str, bits: int = 48) -> str:
        """A pseudonymous id such as 'app-3f9a1c0b7e22' (no personal data)."""
        return f"{prefix}-{self.rng.getrandbits(bits):0{bits // 4}x}"

    def officer(self, agency_code: str) -> str:
        """One of the agency's officers (a stable pool of pseudonymous ids per agency)."""
        pool = self.officers.get(agency_code)
        if pool is None:
            pool = [self.hex_id("off", 32) for _ in range(self.rng.randint(3, 8))]
            self.officers[agency_code] = pool
        return self.rng.choice(pool)

    def at(self, minute: int) -> datetime:
        return self.calendar.instant(minute)

    def emit(
        self,
        model: type[CloudEvent],
        *,
        source: str,
        subject: str,
        agency: str,
        minute: int,
        data: dict[str, Any],
    ) -> None:
        """Build one event (validated by its contract) and keep it with its office minute."""
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        event = model.model_validate(
            {
                "id": event_id,
                "source": source,
                "type": event_type_of(model),
                "subject": subject,
                "time": self.at(minute),
                "agencycode": agency,
                "data": data,
            }
        )
        self._events.append((minute, len(self._events), event))

    def timed_events_until(self, cutoff: datetime) -> list[tuple[int, CloudEvent]]:
        """Every event at or before `cutoff` with its office minute, in global time order
        (ties: creation order)."""
        ordered = sorted(self._events, key=lambda item: (item[0], item[1]))
        return [(minute, event) for minute, _, event in ordered if event.time <= cutoff]
