"""The timeliness truth: a plain fold, given events recorded at known times, then figures;
and the demo province's recording times, which that truth then measures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from schemas import CloudEvent
from services.demo.domain.calendar import OFFICE_CLOSES, VN_TZ
from services.demo.domain.province import CUTOFF_MARGIN, Province, generate_province
from services.demo.domain.recording import LATE_SHARE_BACKLOGGED
from services.demo.domain.timeliness_truth import fold_update_timeliness, quantile
from tests.unit.demo.conftest import NOW
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit

ICT = timezone(timedelta(hours=7))
FRI = datetime(2025, 3, 7, 16, tzinfo=ICT)
MON = datetime(2025, 3, 3, 9, tzinfo=ICT)
BEFORE_TET = datetime(2025, 1, 24, 16, tzinfo=ICT)  # Friday; Tết is off 25 Jan – 2 Feb


def update(
    code: str,
    agency: str,
    happened: datetime,
    recorded: datetime | None = None,
    received: datetime | None = None,
) -> CloudEvent:
    """A dossier received at `happened`, recorded by its one-stop-shop and/or by intake."""
    event = f.received(code, agency, happened, happened + timedelta(days=30))
    return event.model_copy(update={"recordedtime": recorded, "receivedtime": received})


# H56.01, March 2025: lags 1, 72, 96, 2, 3 hours (two stated by the originating system,
# three by intake's receipt); only the Tuesday one is more than one working day late.
MARCH = [
    update("A-1", "H56.01", FRI, recorded=FRI + timedelta(hours=1)),
    update("A-2", "H56.01", FRI, recorded=datetime(2025, 3, 10, 16, tzinfo=ICT)),
    update("A-3", "H56.01", FRI, received=datetime(2025, 3, 11, 16, tzinfo=ICT)),
    update("A-4", "H56.01", MON, received=MON + timedelta(hours=2)),
    update("A-5", "H56.01", MON, received=MON + timedelta(hours=3)),
    update("A-6", "H56.01", MON),  # recorded nowhere we know of: no lag to count
]
# H56.02, January 2025: 233 hours over Tết is one working day; 257 hours is two. Intake
# received both in June: the originating system's time is the one that counts.
JANUARY = [
    update(
        "B-1",
        "H56.02",
        BEFORE_TET,
        recorded=datetime(2025, 2, 3, 9, tzinfo=ICT),
        received=datetime(2025, 6, 2, 9, tzinfo=ICT),
    ),
    update(
        "B-2",
        "H56.02",
        BEFORE_TET,
        recorded=datetime(2025, 2, 4, 9, tzinfo=ICT),
        received=datetime(2025, 6, 2, 9, tzinfo=ICT),
    ),
]
EXPECTED: dict[tuple[str, ...], dict[str, Any]] = {
    ("H56.01", "2025-03"): {
        "updates": 5,
        "median_lag_hours": 3.0,
        "p90_lag_hours": 96.0,
        "late_updates": 1,
        "calendared_updates": 5,
        "late_update_share": 20.0,
    },
    ("H56.02", "2025-01"): {
        "updates": 2,
        "median_lag_hours": 257.0,  # of an even count, the upper middle
        "p90_lag_hours": 257.0,
        "late_updates": 1,
        "calendared_updates": 2,
        "late_update_share": 50.0,
    },
}


def test_lag_quantiles_and_late_share_per_agency_and_month() -> None:
    truth = fold_update_timeliness(MARCH + JANUARY)
    assert truth.counts(("agency", "month")) == EXPECTED


def test_a_redelivery_in_any_order_changes_nothing() -> None:
    delivered = MARCH + JANUARY + MARCH[:3] + JANUARY
    random.Random(3).shuffle(delivered)
    assert fold_update_timeliness(delivered).counts(("agency", "month")) == EXPECTED


def test_a_period_is_over_its_events_not_a_mean_of_its_months() -> None:
    truth = fold_update_timeliness(MARCH + JANUARY)
    assert truth.counts(("agency",), ("2025-01", "2025-03")) == {
        (agency,): figures for (agency, _), figures in EXPECTED.items()
    }
    assert truth.counts(("agency",), ("2025-02", "2025-03")) == {
        ("H56.01",): EXPECTED["H56.01", "2025-03"]
    }
    assert truth.late_share() == pytest.approx(100 * 2 / 7)


def test_an_event_recorded_before_intakes_clock_counts_as_no_lag() -> None:
    # Intake's receipt a minute before `time` (a publisher's clock ahead): lag 0, not late.
    skewed = update("C-1", "H56.03", MON, received=MON - timedelta(minutes=1))
    figures = fold_update_timeliness([skewed]).counts(("agency",))[("H56.03",)]
    assert (figures["median_lag_hours"], figures["late_updates"]) == (0.0, 0)


def test_a_year_without_a_calendar_is_left_out_of_the_late_share_only() -> None:
    happened = datetime(2031, 3, 7, 16, tzinfo=ICT)
    beyond = update("D-1", "H56.04", happened, recorded=happened + timedelta(days=5))
    figures = fold_update_timeliness([beyond]).counts(("agency",))[("H56.04",)]
    assert figures["updates"] == 1 and figures["median_lag_hours"] == 120.0
    assert (figures["calendared_updates"], figures["late_update_share"]) == (0, None)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 0.9, 1.0),
        ([1.0, 2.0], 0.5, 2.0),
        ([1.0, 2.0, 3.0], 0.5, 2.0),
        ([*range(10)], 0.9, 9),
    ],
)
def test_the_quantile_is_the_value_at_rank_floor_q_n(
    values: list[float], q: float, expected: float
) -> None:
    assert quantile(values, q) == expected


# --- the demo province's recording times -------------------------------------------------
def test_every_demo_event_is_recorded_after_it_happened_and_before_the_demos_now(
    small_province: Province,
) -> None:
    now = small_province.cutoff + CUTOFF_MARGIN
    for event in small_province.events:
        assert event.recordedtime is not None, event.id
        assert event.time <= event.recordedtime <= now, event.id
        if event.time >= small_province.window_end:  # the month the clock cuts
            assert event.recordedtime - event.time <= CUTOFF_MARGIN, event.id
        else:
            assert event.recordedtime < small_province.window_end, event.id


def test_most_demo_events_are_recorded_the_same_office_day(small_province: Province) -> None:
    events = small_province.events
    same_day = [
        e
        for e in events
        if e.recordedtime is not None
        and e.recordedtime.astimezone(VN_TZ).date() == e.time.astimezone(VN_TZ).date()
    ]
    assert len(same_day) > 0.9 * len(events)
    closes = [e.recordedtime.astimezone(VN_TZ).time() for e in same_day if e.recordedtime]
    assert max(closes) <= OFFICE_CLOSES
    lags = sorted((e.recordedtime - e.time).total_seconds() for e in same_day if e.recordedtime)
    assert 60 <= lags[len(lags) // 2] <= 3 * 3600  # minutes to hours


def test_the_demos_late_share_is_a_few_percent_and_high_at_its_backlogged_agencies(
    default_province: Province,
) -> None:
    truth = fold_update_timeliness(default_province.events)
    share = truth.late_share()
    assert share is not None and 1.0 <= share <= 6.0
    by_agency = truth.counts(("agency",))
    high = sorted(a for (a,), v in by_agency.items() if v["late_update_share"] > 25)
    assert 1 <= len(high) <= 2, high
    assert all(
        by_agency[(a,)]["late_update_share"] < 100 * LATE_SHARE_BACKLOGGED + 10 for a in high
    )


def test_the_same_seed_records_at_the_same_times_and_another_seed_does_not() -> None:
    def recorded(seed: int) -> list[datetime | None]:
        province = generate_province(seed, agencies=20, dossiers=300, months=2, now=NOW)
        return [e.recordedtime for e in province.events]

    assert recorded(5) == recorded(5)
    assert recorded(5) != recorded(6)
