"""The procedure register on chDB: the versions in force, dossiers received under a
procedure not in force, and the statutory due time against the published one — the same
figures after duplicated and shuffled delivery."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import UTC, date, datetime, time, timedelta, timezone

import httpx
import pytest

from schemas.envelope import CloudEvent
from services.common.working_days import vietnam_calendar
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.periods import DayRange
from services.metrics.domain.report_html import render_report
from services.metrics.entrypoints.report_cli import gather
from tests.integration.metrics.conftest import NATIONAL_READER, insert_events, running_service
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))
A, B = "H56.01", "H56.02"
AMENDED, REPEALED, LATER, UNKNOWN = "1.000001", "1.000002", "1.000003", "1.000009"
PUBLISHED_AT = datetime(2025, 12, 1, 9, tzinfo=ICT)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), ICT)


def statutory_end(start: date, n: int) -> datetime:
    """24:00 local of the n-th working day after `start` (the rule of docs/kpis.md)."""
    return at(vietnam_calendar().add_working_days(start, n) + timedelta(1), 0)


REGISTER = [
    f.procedure_version(AMENDED, 1, PUBLISHED_AT, "2026-01-01", 10),
    f.procedure_version(AMENDED, 2, at(date(2026, 2, 20)), "2026-03-02", 7),
    f.procedure_version(REPEALED, 1, PUBLISHED_AT, "2026-01-01", 5),
    f.procedure_repealed(REPEALED, at(date(2026, 2, 15)), "2026-03-01"),
    f.procedure_version(LATER, 1, PUBLISHED_AT, "2026-04-01", 3),
]
FEB10, FEB20, MAR5, MAR10 = (
    date(2026, 2, 10),
    date(2026, 2, 20),
    date(2026, 3, 5),
    date(2026, 3, 10),
)


def dossiers() -> list[CloudEvent]:
    due_feb10 = statutory_end(FEB10, 10)
    due_mar10 = statutory_end(MAR10, 7)
    return [
        # In force, due exactly at the statutory time, resolved on time both ways.
        f.received("D1", A, at(FEB10), due_feb10, procedure=AMENDED, procedure_version=1),
        f.resolved("D1", A, at(FEB10), due_feb10 - timedelta(days=2), due_feb10, AMENDED),
        # States version 1 after version 2 took effect.
        f.received("D2", A, at(MAR10), due_mar10, procedure=AMENDED, procedure_version=1),
        f.received("D3", B, at(MAR5), at(MAR5 + timedelta(20)), procedure=REPEALED),
        f.received("D4", A, at(MAR5), at(MAR5 + timedelta(20)), procedure=LATER),
        f.received("D5", A, at(MAR5), at(MAR5 + timedelta(20)), procedure=UNKNOWN),
        # Due three days after the statutory time: extended; resolved after the statutory
        # due time, before the published one.
        f.received("D6", A, at(MAR10), due_mar10 + timedelta(days=3), procedure=AMENDED),
        f.resolved(
            "D6", A, at(MAR10), due_mar10 + timedelta(days=1), due_mar10 + timedelta(3), AMENDED
        ),
        # A complete supplement starts the statutory time anew.
        f.received("D7", A, at(FEB10), due_feb10, procedure=AMENDED),
        f.supplement_received("D7", A, at(FEB20, 15), statutory_end(FEB20, 10), AMENDED),
        f.resolved("D7", A, at(FEB10), statutory_end(FEB10, 12), statutory_end(FEB20, 10), AMENDED),
        # Due at 23:00 of the statutory day: not extended; resolved the next morning: late.
        f.received("D8", A, at(FEB10), due_feb10 - timedelta(hours=1), procedure=AMENDED),
        f.resolved(
            "D8",
            A,
            at(FEB10),
            due_feb10 + timedelta(hours=8),
            due_feb10 - timedelta(hours=1),
            AMENDED,
        ),
    ]


def test_the_versions_in_force_end_at_the_next_version_or_the_repeal(
    store: ClickHouseStore,
) -> None:
    insert_events(store, REGISTER + REGISTER[:2], batch=2)
    rows = store.query(
        "SELECT procedure, version, statutory_working_days, effective_from, effective_to "
        "FROM procedure_versions_in_force ORDER BY procedure, version"
    )
    assert rows == [
        (AMENDED, 1, 10, date(2026, 1, 1), date(2026, 3, 2)),
        (AMENDED, 2, 7, date(2026, 3, 2), None),
        (REPEALED, 1, 5, date(2026, 1, 1), date(2026, 3, 1)),
        (LATER, 1, 3, date(2026, 4, 1), None),
    ]


NOT_IN_FORCE = [
    {"agency": A, "month": "2026-03", "reason": "not_yet_in_force", "dossiers": 1},
    {"agency": A, "month": "2026-03", "reason": "outdated_version", "dossiers": 1},
    {"agency": A, "month": "2026-03", "reason": "unknown", "dossiers": 1},
    {"agency": B, "month": "2026-03", "reason": "repealed", "dossiers": 1},
]
EXTENDED = [
    {"agency": A, "month": "2026-02", "dossiers": 3, "extended_due": 0, "extended_due_share": 0.0},
    {"agency": A, "month": "2026-03", "dossiers": 2, "extended_due": 1, "extended_due_share": 50.0},
]
# Tết 2026 (14–22 February) puts every resolution in March: D1 and D7 on time both ways,
# D6 on time only against its extended due date, D8 late both ways.
ON_TIME = [
    {"agency": A, "month": "2026-03", "resolved": 4, "on_time": 3, "on_time_statutory": 2},
]


def test_dossiers_not_in_force_and_extended_due_dates_survive_duplicates_and_shuffling(
    store: ClickHouseStore,
) -> None:
    events = REGISTER + dossiers()
    insert_events(store, events, batch=4)
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    insert_events(store, shuffled, batch=3)  # duplicates, cut differently, out of order
    every = DayRange(None, None)
    assert (
        kpi_queries.procedure_not_in_force_by(store, every, ("agency", "month", "reason"))
        == NOT_IN_FORCE
    )
    assert kpi_queries.statutory_due_by(store, every, ("agency", "month")) == EXTENDED
    on_time = kpi_queries.on_time_statutory_by(store, every, ("agency", "month"))
    assert [{k: r[k] for k in ON_TIME[0]} for r in on_time] == ON_TIME


def test_an_extended_due_date_opens_its_capa_only_once_the_dossier_is_resolved(
    store: ClickHouseStore,
) -> None:
    """D9's published due time extends the statutory one at receipt; a supplement then
    starts the time anew and ends the extension; D10 stays extended through resolution."""
    due_mar10, due_mar20 = statutory_end(MAR10, 7), statutory_end(date(2026, 3, 20), 7)
    received = [
        f.received("D9", A, at(MAR10), due_mar10 + timedelta(days=3), procedure=AMENDED),
        f.received("D10", A, at(MAR10), due_mar10 + timedelta(days=3), procedure=AMENDED),
    ]
    later = [
        f.supplement_received("D9", A, at(date(2026, 3, 20)), due_mar20, AMENDED),
        f.resolved("D9", A, at(MAR10), due_mar20 - timedelta(days=1), due_mar20, AMENDED),
        f.resolved(
            "D10", A, at(MAR10), due_mar10 + timedelta(days=1), due_mar10 + timedelta(3), AMENDED
        ),
    ]
    listed = "SELECT dossier FROM extended_due_dossiers ORDER BY dossier"
    every = DayRange(None, None)
    insert_events(store, REGISTER + received, batch=5)
    assert store.query(listed) == []  # neither is resolved: nothing judged for a CAPA yet
    assert kpi_queries.statutory_due_by(store, every, ("agency",))[0]["extended_due"] == 2
    insert_events(store, later, batch=5)
    assert store.query(listed) == [("D10",)]
    assert kpi_queries.statutory_due_by(store, every, ("agency",))[0]["extended_due"] == 1


def test_a_dossier_received_before_its_register_arrives_is_judged_when_it_does(
    store: ClickHouseStore,
) -> None:
    insert_events(store, dossiers(), batch=5)
    every = DayRange(None, None)
    before = kpi_queries.procedure_not_in_force_by(store, every, ("reason",))
    assert before == [{"reason": "unknown", "dossiers": 8}]
    insert_events(store, REGISTER, batch=5)
    after = kpi_queries.procedure_not_in_force_by(store, every, ("agency", "month", "reason"))
    assert after == NOT_IN_FORCE


async def test_the_read_api_and_the_report_show_the_register_figures(
    store: ClickHouseStore, chdb_dsn: str
) -> None:
    insert_events(store, REGISTER + dossiers(), batch=6)
    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=store.database)
    async with running_service(settings, consume=False) as api:
        months = {"from": "2026-03", "to": "2026-03", "agency": A}
        body = (
            await api.get("/v1/kpi/procedures/not-in-force/by-agency-month", params=months)
        ).json()
        assert body["rows"] == [r for r in NOT_IN_FORCE if r["agency"] == A]
        body = (await api.get("/v1/kpi/statutory-due/by-agency-month", params=months)).json()
        assert body["rows"] == [EXTENDED[1]]
        body = (await api.get("/v1/kpi/on-time-statutory/by-agency-month", params=months)).json()
        assert [{k: r[k] for k in ON_TIME[0]} for r in body["rows"]] == ON_TIME
        bad = await api.get("/v1/kpi/statutory-due/by-agency-month", params={"from": "2026-13"})
        assert bad.status_code == 422 and "from" in bad.text

        def report() -> str:
            with httpx.Client(base_url=str(api.base_url), headers=NATIONAL_READER) as client:
                return render_report(gather(client, A, "2026-Q1", datetime.now(UTC)))

        html = await asyncio.to_thread(report)
    figures = re.findall(r'<span class="kpi"><b>([^<]*)</b>([^<]+)</span>', html)
    shown = {label: value for value, label in figures}
    assert shown["received under a procedure not in force"] == "3"
    assert shown["due date extended beyond the statutory time"] == "1"
    assert shown["extended share"] == "20.0%"  # 1 of the 5 dossiers with a statutory due time
    assert shown["on time (published due time)"] == "75.0%"
    assert shown["on time (statutory due time)"] == "50.0%"
    assert "Procedure register and statutory due time" in html
