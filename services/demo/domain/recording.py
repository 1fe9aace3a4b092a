"""When the one-stop-shop software recorded each demo event: its `recordedtime`.

The demo posts its whole history at once, as a publisher importing it would, so intake's
receipt says nothing of how late anything was recorded; every event carries the time the
originating system recorded it. Most events are recorded minutes to hours after they
happened, on the same office day (never after 17:00). Some are recorded several working
days late: rarely in most agencies, often where an agency's recording lags (one agency in
`LAGGING_AGENCY_EVERY` on average) and most of the time at `BACKLOGGED_AGENCIES`
departments with a backlog, so the late share is a few percent over the province and high
in one or two agencies. Nothing is recorded after the demo's now: events of the month the
run's clock cuts are recorded within the cutoff margin.

Which agencies lag is drawn from a random source of its own and each event's recording
from a hash of the event, both seeded like the province, so the events, their ids, their
order and every other truth are the same as without it, and a run later in the same month
records every event it shares with an earlier one at the same time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from schemas.envelope import CloudEvent
from services.demo.domain.catalogue import Agency, Level
from services.demo.domain.world import DAY, World

SAME_DAY_MEAN_MINUTES = 45
LATE_WORKING_DAYS = (2, 7)  # a late recording comes this many office days after (inclusive)
BACKLOGGED_AGENCIES = 2
LAGGING_AGENCY_EVERY = 10
LATE_SHARE_BACKLOGGED = 0.4
LATE_SHARE_LAGGING = 0.08
LATE_SHARE_OTHERS = 0.005


@dataclass(frozen=True)
class RecordingHabits:
    """Each agency's share of events recorded late (`late_share`, 0–1); an agency not
    listed (the province's own, `H56`) records late as rarely as most."""

    late_share: dict[str, float]


def recording_habits(rng: Random, agencies: Sequence[Agency]) -> RecordingHabits:
    """Which agencies record late, and how often: backlogged departments (they hold most
    dossiers, so their backlog shows), lagging agencies, the others."""
    departments = [a.code for a in agencies if a.level is Level.PROVINCE]
    backlogged = set(rng.sample(departments, min(BACKLOGGED_AGENCIES, len(departments))))
    late_share = {}
    for agency in agencies:
        lagging = rng.random() < 1 / LAGGING_AGENCY_EVERY
        if agency.code in backlogged:
            late_share[agency.code] = LATE_SHARE_BACKLOGGED
        else:
            late_share[agency.code] = LATE_SHARE_LAGGING if lagging else LATE_SHARE_OTHERS
    return RecordingHabits(late_share)


def with_recorded_times(
    world: World,
    timed_events: Sequence[tuple[int, CloudEvent]],
    habits: RecordingHabits,
    province_key: str,
    window_end: datetime,
    cutoff_margin: timedelta,
) -> list[CloudEvent]:
    """The events (at their office minutes), in the same order, each with its
    `recordedtime`: at or after its `time`, and within `cutoff_margin` of it from
    `window_end` on (the month the run's clock cuts `cutoff_margin` before its now)."""
    margin = int(cutoff_margin.total_seconds() // 60)
    out = []
    for minute, event in timed_events:
        recorded = _recorded(world, minute, event, habits, province_key, window_end, margin)
        out.append(event.model_copy(update={"recordedtime": recorded}))
    return out


def _recorded(
    world: World,
    minute: int,
    event: CloudEvent,
    habits: RecordingHabits,
    province_key: str,
    window_end: datetime,
    margin_minutes: int,
) -> datetime:
    # Drawn from the event itself (its source and id in this province), not from a running
    # random source: a later run in the same month, which cuts the history later, records
    # each event it shares with this one at the same time (intake sees a duplicate, not a
    # conflict).
    key = f"{province_key}|{event.source}|{event.id}"
    late_draw, days_draw, minute_draw, delay_draw = _uniforms(key)
    day = minute // DAY
    last_minute_of_day = day * DAY + DAY - 1  # 16:59
    delay = round(-SAME_DAY_MEAN_MINUTES * math.log1p(-delay_draw))  # exponential
    if event.time >= window_end:
        # The month the run's clock cuts: recorded within the cutoff margin, so nothing is
        # recorded after the demo's now, whenever in the month it runs.
        return world.at(min(minute + min(delay, margin_minutes), last_minute_of_day))
    same_day = world.at(min(minute + delay, last_minute_of_day))
    if late_draw >= habits.late_share.get(event.agencycode, LATE_SHARE_OTHERS):
        return same_day
    first, last = LATE_WORKING_DAYS
    later = first + int(days_draw * (last - first + 1))
    late = world.at((day + later) * DAY + int(minute_draw * DAY))
    # A late recording that would come after the window is in the month being cut: the
    # event is recorded the same day instead, for the same reason.
    return late if late < window_end else same_day


def _uniforms(key: str) -> tuple[float, float, float, float]:
    """Four independent uniform draws in [0, 1) from a key."""
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    a, b, c, d = (int.from_bytes(digest[i : i + 4], "big") / 2**32 for i in range(0, 16, 4))
    return a, b, c, d
