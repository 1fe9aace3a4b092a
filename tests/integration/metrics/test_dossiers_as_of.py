"""Dossiers at an instant T on chDB: as of T (only events dated by T), the clock stopped
while the applicant supplements, and the "as known now" variant (docs/kpis.md)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from schemas.envelope import CloudEvent
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.migrations import (
    MIGRATIONS_DIR,
    split_statements,
)
from services.metrics.config import MetricsSettings
from services.metrics.domain.periods import DayRange
from tests.integration.metrics.conftest import (
    insert_events,
    running_service,
    store_of_earlier_schema,
)
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))
AGENCY = "H56.01"
T = datetime(2026, 7, 1, tzinfo=ICT)  # the cut-off: 1 July, 00:00 in Hà Nội


def day(month: int, d: int, hour: int = 9) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=ICT)


def known_by_t() -> list[CloudEvent]:
    """Four dossiers in progress at T, as their events stood at T."""
    return [
        # W: a supplement requested on 15 June, still awaited at T; its first due time
        # (20 June) is past, but the statutory clock is stopped: waiting, not overdue.
        f.received("W", AGENCY, day(6, 10), day(6, 20, 17)),
        f.supplement_requested("W", AGENCY, day(6, 15)),
        # L: past its due time, nothing else: overdue.
        f.received("L", AGENCY, day(6, 1), day(6, 20, 17)),
        # S: a supplement requested and received before T; the restarted due time (28 June)
        # is past by T: overdue again.
        f.received("S", AGENCY, day(6, 5), day(6, 30, 17)),
        f.supplement_requested("S", AGENCY, day(6, 10)),
        f.supplement_received("S", AGENCY, day(6, 12), day(6, 28, 17)),
        # P: due 25 June, past at T.
        f.received("P", AGENCY, day(6, 5), day(6, 25, 17)),
        # Q: due after T: in progress, neither waiting nor overdue.
        f.received("Q", AGENCY, day(6, 20), day(7, 10, 17)),
    ]


def dated_after_t() -> list[CloudEvent]:
    """What happened to them after T, stored later."""
    return [
        f.supplement_received("W", AGENCY, day(7, 3), day(7, 15, 17)),
        f.resolved("W", AGENCY, day(6, 10), day(7, 8), day(7, 15, 17)),
        f.resolved("L", AGENCY, day(6, 1), day(7, 2), day(6, 20, 17)),
        # An apology letter dated after T promises P a new due time after T.
        f.apology_issued("P", AGENCY, day(7, 2), day(7, 9, 17)),
        f.received("N", AGENCY, day(7, 5), day(7, 20, 17)),  # received after T
    ]


AS_OF_T = {"agency": AGENCY, "in_progress": 5, "waiting_for_supplement": 1, "overdue": 3}
# As known now, P's due time is the apology's (9 July), after T: no longer overdue at T.
AS_KNOWN_NOW_T = {**AS_OF_T, "overdue": 2}


def test_the_figure_as_of_t_stops_the_clock_and_does_not_move_when_later_events_arrive(
    store: ClickHouseStore,
) -> None:
    insert_events(store, known_by_t(), batch=3)
    at = T.astimezone(UTC)
    assert kpi_queries.dossiers_open(store, at) == [AS_OF_T]

    later = dated_after_t()
    insert_events(store, random.Random(5).sample(later, len(later)), batch=2)
    insert_events(store, known_by_t() + later, batch=4)  # redelivered, cut differently
    assert kpi_queries.dossiers_open(store, at) == [AS_OF_T]
    assert kpi_queries.dossiers_open(store, at, knowledge="now") == [AS_KNOWN_NOW_T]
    # Later instants see the later events: on 4 July W is no longer waiting (its
    # supplement came on 3 July), L is resolved and P's apology moved its due time.
    assert kpi_queries.dossiers_open(store, day(7, 4).astimezone(UTC)) == [
        {"agency": AGENCY, "in_progress": 4, "waiting_for_supplement": 0, "overdue": 1}
    ]


async def test_the_read_api_answers_as_of_t_and_as_known_now(
    store: ClickHouseStore, chdb_dsn: str
) -> None:
    insert_events(store, known_by_t() + dated_after_t(), batch=5)
    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=store.database)
    async with running_service(settings, consume=False) as api:
        params = {"at": T.isoformat()}
        body = (await api.get("/v1/kpi/dossiers/in-progress", params=params)).json()
        assert body["known"] == "as_of" and body["rows"] == [AS_OF_T]
        now = {**params, "known": "now"}
        body = (await api.get("/v1/kpi/dossiers/in-progress", params=now)).json()
        assert body["known"] == "now" and body["rows"] == [AS_KNOWN_NOW_T]

        bad = await api.get("/v1/kpi/dossiers/in-progress", params={**params, "known": "then"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "known" in bad.text


def _columns_added_after_0008() -> Iterator[str]:
    for path in sorted(MIGRATIONS_DIR.glob("0*.sql"))[8:]:
        for statement in split_statements(path.read_text("utf-8")):
            if re.match(r"ALTER TABLE (events|dossier_events) ADD COLUMN", statement):
                yield statement


def test_a_store_of_the_previous_schema_is_backfilled_with_levels_and_channels(
    chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0008 on a database that already holds dossiers marks them by level and channel."""
    with store_of_earlier_schema(chdb_dsn, tmp_path, monkeypatch, 7) as store:
        assert store.applied[-1] == "0007_dossier_marks"
        # Today's rows carry the columns later migrations add to `events` and
        # `dossier_events`; the backfill under test is 0008's.
        for statement in _columns_added_after_0008():
            store.command(statement)
        due = day(3, 20, 17)
        insert_events(
            store,
            [
                f.received("A", AGENCY, day(3, 2), due, channel="online", level=3),
                f.received("B", AGENCY, day(3, 2), due, channel="online", level=4),
                f.received("C", AGENCY, day(3, 2), due, channel="online", level=4),
                f.received("D", AGENCY, day(3, 2), due, channel="postal"),
            ],
            batch=10,
        )
        later = sorted(p.stem for p in MIGRATIONS_DIR.glob("0*.sql"))[7:]
        assert later[0] == "0008_online_levels"
        assert store.migrate() == later
        (row,) = kpi_queries.dossiers_by(store, DayRange(), ("agency",))
        assert {k: row[k] for k in ("received", "received_online", "received_online_l34")} == {
            "received": 4,
            "received_online": 3,
            "received_online_l34": 3,
        }
        assert (row["received_online_l3"], row["received_online_l4"]) == (1, 2)
        assert (row["received_counter"], row["received_postal"]) == (0, 1)


def objective_evaluated(oid: str, at: datetime, actual: float, target: float) -> CloudEvent:
    data = {"indicator": "on_time_rate", "target": target, "actual": actual,
            "met": actual >= target, "period": "2026-Q2"}  # fmt: skip
    return f.event("objective.evaluated", oid, AGENCY, at, data)


def test_objectives_and_coverage_as_of_t_leave_out_what_is_dated_after_it(
    store: ClickHouseStore,
) -> None:
    insert_events(
        store,
        [
            f.objective_set("O1", AGENCY, day(1, 5), "on_time_rate", 90, "2026-Q2"),
            objective_evaluated("O1", day(6, 30, 18), 80, 90),
            f.received("A1", AGENCY, day(6, 2), day(6, 20, 17)),
            f.audit_conducted(
                "AU1", AGENCY, AGENCY, day(6, 9), kind="internal_audit", on_site=True
            ),
            # Dated after T: a raised target, a corrected evaluation, a new agency.
            f.objective_set("O1", AGENCY, day(7, 5), "on_time_rate", 95, "2026-Q2"),
            objective_evaluated("O1", day(7, 3), 96, 95),
            f.received("B1", "H56.02", day(7, 2), day(7, 20, 17)),
        ],
        batch=3,
    )
    at = T.astimezone(UTC)
    (then,) = kpi_queries.objectives(store, AGENCY, at=at)
    assert (then["target"], then["reported_actual"], then["reported_met"]) == (90, 80, 0)
    (now,) = kpi_queries.objectives(store, AGENCY)
    assert (now["target"], now["reported_actual"], now["reported_met"]) == (95, 96, 1)
    (evaluation,) = kpi_queries.objective_evaluations(store, AGENCY, "2026-Q2", at=at)
    assert (evaluation["target"], evaluation["reported_actual"]) == (90, 80)

    june = DayRange(date(2026, 6, 1), date(2026, 7, 1))
    as_of = kpi_queries.audit_coverage(store, june)
    assert (as_of["agencies"], as_of["internally_audited"]) == (1, 1)  # H56.02 came in July
    assert kpi_queries.audit_coverage(store, june, knowledge="now")["agencies"] == 2
