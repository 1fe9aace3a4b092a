"""The process control sheet of a demo dossier: its steps, their due times, slow units.

Each step is allotted an equal share of the procedure's statutory time, counted in office
minutes (working time) from when the step began; its due time is stated on the transfer.
How long each unit actually holds the dossier follows the random gaps between the minutes
the generator drew for the transfers, evened out, and stretched for a slow unit: one
agency in `SLOW_AGENCY_EVERY` has a unit whose work takes `SLOW_FACTOR` times as long, so
its steps overrun and the agency's late dossiers lose their time there. Slowness is picked
from the agency code (no draw), so the rest of the province keeps its random draws.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet

from services.demo.domain.catalogue import Agency, Procedure
from services.demo.domain.world import DAY, World

UNITS = (
    "Bộ phận Tiếp nhận và Trả kết quả",
    "Phòng chuyên môn",
    "Lãnh đạo phòng",
    "Lãnh đạo đơn vị",
    "Văn thư",
)
SLOW_AGENCY_EVERY = 5
SLOW_FACTOR = 4
# Which unit drags in a slow agency, by the agency code's checksum.
SLOW_UNIT_CHOICES = (UNITS[1], UNITS[3])

# Emits one step transfer: (office minute, data).
EmitStep = Callable[[int, dict[str, object]], None]


def slow_unit(agency_code: str) -> str | None:
    """The unit of this agency whose steps drag, or None for most agencies."""
    checksum = zlib.crc32(agency_code.encode())
    if checksum % SLOW_AGENCY_EVERY:
        return None
    return SLOW_UNIT_CHOICES[(checksum // SLOW_AGENCY_EVERY) % len(SLOW_UNIT_CHOICES)]


def slow_units(agencies: Iterable[Agency]) -> dict[str, str]:
    """Each slow agency's slow unit (the demo's ground truth of where time is lost)."""
    return {a.code: unit for a in agencies if (unit := slow_unit(a.code)) is not None}


def step_units(step: int) -> tuple[str, str]:
    """(from_unit, to_unit) of step `step` (1, 2, …): the units in turn."""
    return UNITS[(step - 1) % len(UNITS)], UNITS[step % len(UNITS)]


def handover_minutes(
    drawn: Sequence[int], start: int, end: int, weights: Sequence[float]
) -> list[int]:
    """Hand-over minutes of the steps in [start, end): step i's work is its drawn gap,
    evened out with the mean gap, times its weight; the time after the last hand-over
    (until `end`) is work of weight 1. Non-decreasing, each before `end`."""
    bounds = [start, *drawn, end]
    gaps = [b - a for a, b in itertools.pairwise(bounds)]
    mean = (end - start) / len(gaps)
    work = [(gap + mean) * w for gap, w in zip(gaps, [*weights, 1.0], strict=True)]
    total, done, minutes = sum(work), 0.0, []
    for amount in work[:-1]:
        done += amount
        minutes.append(min(end - 1, start + int((end - start) * done / total)))
    return minutes


def strictly_after_and_free(
    minutes: Sequence[int], drawn: Sequence[int], taken: AbstractSet[int], end: int
) -> list[int]:
    """`minutes` moved on to distinct minutes none of the dossier's other events take (each
    aggregate's events are strictly ordered); the drawn minutes when they do not fit."""
    placed: list[int] = []
    for minute in minutes:
        minute = max(minute, placed[-1] + 1 if placed else minute)
        while minute in taken:
            minute += 1
        if minute >= end:
            return list(drawn)
        placed.append(minute)
    return placed


def emit_sheet(
    world: World,
    emit: EmitStep,
    agency: Agency,
    procedure: Procedure,
    drawn: Sequence[int],
    span: tuple[int, int],
    taken: AbstractSet[int],
) -> None:
    """Emit the step transfers of one dossier received at `span[0]` whose sheet closes at
    `span[1]` (resolution or withdrawal), one per drawn minute, none at a `taken` minute."""
    received, end = span
    slow = slow_unit(agency.code)
    weights = [SLOW_FACTOR if step_units(s)[0] == slow else 1 for s in range(1, len(drawn) + 1)]
    allotted = procedure.statutory_days * DAY // max(1, procedure.steps)
    minutes = handover_minutes(drawn, received, end, weights)
    started = received
    for step, minute in enumerate(strictly_after_and_free(minutes, drawn, taken, end), start=1):
        from_unit, to_unit = step_units(step)
        emit(
            minute,
            {
                "step": step,
                "from_unit": from_unit,
                "to_unit": to_unit,
                "officer_id": world.officer(agency.code),
                "step_due_at": world.at(started + allotted),
                "allotted_working_hours": round(allotted / 60, 2),
            },
        )
        started = minute
