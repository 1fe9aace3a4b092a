"""The demo's process control sheets: slow units, hand-over minutes, the truth's fold."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from services.demo.domain.calendar import VN_TZ
from services.demo.domain.province import Province
from services.demo.domain.sheet_truth import fold_sheets
from services.demo.domain.sheets import handover_minutes, slow_units
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit


def test_the_slow_units_are_where_steps_run_late(small_province: Province) -> None:
    """The demo's slow units (its ground truth of where time is lost) show in the truth:
    their steps run late several times as often as the others'."""
    slow = slow_units(small_province.agencies)
    assert slow, "the demo province has slow units"
    counts = fold_sheets(small_province.events).step_counts(("agency", "unit"))
    late = {True: 0, False: 0}
    steps = {True: 0, False: 0}
    for (agency, unit), row in counts.items():
        is_slow = slow.get(agency) == unit
        late[is_slow] += row["late_steps"]
        steps[is_slow] += row["steps"]
    assert late[True] / steps[True] > 3 * late[False] / steps[False]


def test_hand_overs_keep_their_order_inside_the_window_and_a_slow_step_takes_longer() -> None:
    even = handover_minutes([10, 20, 30], 0, 40, [1, 1, 1])
    assert even == [10, 20, 30]
    slow = handover_minutes([10, 20, 30], 0, 40, [1, 4, 1])
    assert slow == sorted(slow) and slow[-1] < 40
    assert slow[1] - slow[0] > 2 * (even[1] - even[0])


def test_the_fold_keeps_the_latest_transfer_of_a_step_whatever_the_order_or_repeats() -> None:
    t0 = datetime(2026, 3, 2, 8, tzinfo=VN_TZ)
    events = [
        f.received("D-1", "H56.01", t0, t0 + timedelta(days=2)),
        f.step_transferred("D-1", "H56.01", t0 + timedelta(hours=3), 1, "A", "B"),
        f.step_transferred("D-1", "H56.01", t0 + timedelta(hours=4), 1, "A2", "B"),
        f.step_transferred(
            "D-1",
            "H56.01",
            t0 + timedelta(hours=9),
            2,
            "B",
            "C",
            due=t0 + timedelta(hours=6),
        ),
        f.resolved("D-1", "H56.01", t0, t0 + timedelta(days=3), t0 + timedelta(days=2)),
    ]
    shuffled = events * 2
    random.Random(1).shuffle(shuffled)
    truth = fold_sheets(shuffled)
    (first, second) = truth.sheets["H56.01", "D-1"]
    assert (first.unit, first.duration_hours, second.duration_hours) == ("A2", 4.0, 5.0)
    assert (second.late, second.overrun_hours) == (True, 3.0)
    lost = truth.time_lost_at("H56.01", "D-1")
    assert lost is not None and lost.step == 2
