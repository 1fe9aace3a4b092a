"""A whole demo province: agencies, procedures and the events of a window of months.

Same seed, size and window give the same events, ids included; a later month gives a new
province (its ids differ), so re-running the demo in the same month only repeats what
intake already holds (duplicates), while a run next month adds new history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from random import Random

from schemas.envelope import CloudEvent
from services.demo.domain.audits import audit_agency
from services.demo.domain.calendar import WorkingCalendar, add_months, month_start
from services.demo.domain.catalogue import (
    PROCEDURES,
    PROCEDURES_BY_CODE,
    Agency,
    Level,
    Procedure,
    build_agencies,
)
from services.demo.domain.documents import document_control
from services.demo.domain.dossiers import DossierFacts, live_dossier
from services.demo.domain.objectives import periods_in, set_and_evaluate
from services.demo.domain.recording import recording_habits, with_recorded_times
from services.demo.domain.register import nonconforming_dossiers, plan_register, publish_register
from services.demo.domain.world import World

# Nothing is published closer to "now" than this: every event is safely in the past.
CUTOFF_MARGIN = timedelta(minutes=10)
DEPARTMENT_VOLUME = 5.0
STRUGGLING_SHARE = 0.15


@dataclass(frozen=True)
class Province:
    """The generated province: its events in global time order and what they refer to."""

    events: list[CloudEvent]
    agencies: list[Agency]
    procedures: list[Procedure]
    window_start: datetime  # first dossier received on or after (00:00 +07:00, 1st of a month)
    window_end: datetime  # every dossier received before (00:00 +07:00, 1st of a month)
    cutoff: datetime  # no event after this instant


@dataclass(frozen=True, slots=True)
class _Profile:
    volume: float
    late_rate: float
    procedures: tuple[Procedure, ...]
    cum_popularity: tuple[int, ...]


def _profiles(rng: Random, agencies: list[Agency]) -> list[_Profile]:
    profiles = []
    for agency in agencies:
        base = DEPARTMENT_VOLUME if agency.level is Level.PROVINCE else 1.0
        if rng.random() < STRUGGLING_SHARE:
            late_rate = rng.uniform(0.05, 0.12)
        else:
            late_rate = rng.uniform(0.003, 0.03)
        procedures = tuple(PROCEDURES_BY_CODE[c] for c in agency.procedure_codes)
        profiles.append(
            _Profile(
                volume=base * rng.lognormvariate(0.0, 0.5),
                late_rate=late_rate,
                procedures=procedures,
                cum_popularity=tuple(accumulate(p.popularity for p in procedures)),
            )
        )
    return profiles


def generate_province(
    seed: int,
    agencies: int = 150,
    dossiers: int = 8000,
    months: int = 6,
    now: datetime | None = None,
) -> Province:
    """Generate the province for the `months` whole months before the month of `now`."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    if months < 1 or dossiers < 0:
        raise ValueError("months must be at least 1 and dossiers not negative")
    cutoff = now - CUTOFF_MARGIN
    window_end = month_start(cutoff)
    window_start = add_months(window_end, -months)
    province_key = f"{seed}|{agencies}|{dossiers}|{months}|{window_start:%Y-%m}"
    rng = Random(f"qms-demo|{province_key}")
    calendar = WorkingCalendar(window_start.date())
    world = World(rng=rng, calendar=calendar)
    window_days = calendar.first_index_on_or_after(window_end.date())

    agency_list = build_agencies(agencies)
    register = plan_register(agency_list, window_days, calendar.day(0))
    publish_register(world, register)
    profiles = _profiles(rng, agency_list)
    cum_volume = list(accumulate(p.volume for p in profiles))
    facts: dict[str, list[DossierFacts]] = defaultdict(list)
    sequence: dict[tuple[int, int], int] = defaultdict(int)
    # The register's nonconforming dossiers are part of the `dossiers` asked for.
    nonconforming = nonconforming_dossiers(
        world, register, agency_list, window_days, sequence, budget=dossiers
    )
    for code, extra in nonconforming.items():
        facts[code].extend(extra)
    for _ in range(dossiers - sum(len(extra) for extra in nonconforming.values())):
        index = rng.choices(range(len(agency_list)), cum_weights=cum_volume)[0]
        agency, profile = agency_list[index], profiles[index]
        procedure = rng.choices(profile.procedures, cum_weights=profile.cum_popularity)[0]
        day = rng.randrange(window_days)
        procedure = register.in_force(agency, procedure, day)
        sequence[index, day] += 1
        facts[agency.code].append(
            live_dossier(world, agency, procedure, day, sequence[index, day], profile.late_rate)
        )

    audit_window_end = max(1, int(window_days * 0.75))
    for agency in agency_list:
        audit_agency(world, agency, 0, audit_window_end)
    periods = periods_in(window_start, window_end)
    for agency in agency_list:
        set_and_evaluate(world, agency, facts[agency.code], periods)
    changed_by_register = frozenset(
        p.code for p in (register.amended, register.repealed) if p is not None
    )
    document_control(world, agency_list, window_days, changed_by_register)

    # Its own random source: the recording draws leave every other draw as it was.
    habits = recording_habits(Random(f"qms-demo-recording|{province_key}"), agency_list)
    events = with_recorded_times(
        world, world.timed_events_until(cutoff), habits, province_key, window_end, CUTOFF_MARGIN
    )
    return Province(
        events=events,
        agencies=agency_list,
        procedures=list(PROCEDURES),
        window_start=window_start,
        window_end=window_end,
        cutoff=cutoff,
    )
