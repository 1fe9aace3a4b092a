"""Every KPI view and read-API route against independently computed expectations (chDB).

Rows are inserted through the consumer's own path (records → Batch → deduplicated insert),
twice, cut into different batches and shuffled: the counts must not move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from schemas.complaint import ComplaintFiled, ComplaintResolved
from schemas.dossier import (
    DossierReceived,
    DossierResolved,
    DossierSupplementReceived,
)
from schemas.envelope import CloudEvent
from schemas.satisfaction import SatisfactionRated
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from tests.integration.metrics.conftest import running_service
from tests.unit.metrics.scenario import (
    AGENCIES,
    expected_by_agency,
)

pytestmark = pytest.mark.integration
ICT = timezone(timedelta(hours=7))


def expected_complaints(events: Sequence[CloudEvent]) -> dict[str, dict[str, float]]:
    filed: dict[str, datetime] = {}
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in events:
        if isinstance(e, ComplaintFiled):
            filed[e.subject] = e.time
            out[e.agencycode]["filed"] += 1
    for e in events:
        if isinstance(e, ComplaintResolved):
            out[e.agencycode]["resolved"] += 1
            out[e.agencycode]["substantiated"] += int(e.data.substantiated)
            out[e.agencycode]["days"] += (e.time - filed[e.subject]).total_seconds() / 86400
    return out


def test_stats_count_each_event_once(loaded: ClickHouseStore, province: list[CloudEvent]) -> None:
    from services.metrics.adapters.kpi_queries import stats

    s = stats(loaded)
    assert s["events"] == len(province)
    assert s["by_family"]["capa"] == sum(1 for e in province if e.family == "capa")
    assert s["published_events"] == len(province) - s["by_family"]["capa"]


def test_complaints_satisfaction_audits_capa(
    loaded: ClickHouseStore, province: list[CloudEvent]
) -> None:
    from services.metrics.adapters import kpi_queries as q
    from services.metrics.domain.periods import DayRange

    complaints = {r["agency"]: r for r in q.complaints_by(loaded, DayRange(), ("agency",))}
    dossiers = expected_by_agency(province)
    for agency, exp in expected_complaints(province).items():
        got = complaints[agency]
        assert (got["filed"], got["resolved"], got["substantiated"]) == (
            exp["filed"],
            exp["resolved"],
            exp["substantiated"],
        )
        assert got["avg_resolution_days"] == pytest.approx(exp["days"] / exp["resolved"], abs=1e-3)
        assert got["per_1000_dossiers"] == pytest.approx(
            1000 * exp["filed"] / dossiers[agency]["received"], abs=1e-3
        )

    ratings = {r["agency"]: r for r in q.satisfaction_by(loaded, DayRange(), ("agency",))}
    for agency in AGENCIES:
        scores = [
            e.data.score
            for e in province
            if isinstance(e, SatisfactionRated) and e.agencycode == agency
        ]
        got = ratings[agency]
        assert got["ratings"] == len(scores)
        assert got["satisfied"] == sum(1 for s in scores if s >= 4)
        assert got["avg_score"] == pytest.approx(sum(scores) / len(scores), abs=1e-3)

    assert q.audit_coverage(loaded, DayRange()) == {
        "agencies": 3,
        "internally_audited": 2,
        "inspected": 3,
        "inspections": 4,
        "onsite_inspections": 1,
    }
    audits = {r["agency"]: r for r in q.audits_by(loaded, DayRange(), ("agency",))}
    assert audits["H56.01"]["findings"] == 2 and audits["H56.01"]["internal_audits"] == 1

    today = datetime.now(ICT).date()
    capa = {r["agency"]: r for r in q.capa_by_agency(loaded, datetime.now(UTC))}
    assert (capa["H56.01"]["capas"], capa["H56.01"]["backlog"], capa["H56.01"]["closed"]) == (
        2,
        0,
        2,
    )
    assert (capa["H56.01"]["verified"], capa["H56.01"]["effective_first_time"]) == (2, 1)
    assert capa["H56.01"]["first_time_effectiveness"] == 50.0
    opened = date(2026, 1, 6)
    overdue = sum(due < today for due in (opened + timedelta(10), opened + timedelta(60)))
    assert (capa["H56.02"]["backlog"], capa["H56.02"]["overdue"]) == (2, overdue)
    assert capa["H56.02"]["recurrences"] == 1
    assert (capa["H56.03"]["cancelled"], capa["H56.03"]["backlog"]) == (1, 0)


def test_dossiers_in_progress_and_overdue_at_an_instant(
    loaded: ClickHouseStore, province: list[CloudEvent]
) -> None:
    from services.metrics.adapters import kpi_queries as q

    at = datetime(2026, 2, 15, tzinfo=ICT)
    received: dict[str, DossierReceived] = {}
    resolved: set[str] = set()
    due: dict[str, tuple[datetime, datetime]] = {}
    for e in province:
        if isinstance(e, DossierReceived) and e.time <= at:
            received[e.subject] = e
            due[e.subject] = max(
                due.get(e.subject, (e.time, e.data.due_at)), (e.time, e.data.due_at)
            )
        elif isinstance(e, DossierSupplementReceived) and e.time <= at:  # as of `at`
            due[e.subject] = max(
                due.get(e.subject, (e.time, e.data.new_due_at)), (e.time, e.data.new_due_at)
            )
        elif isinstance(e, DossierResolved) and e.time <= at:
            resolved.add(e.subject)
    expected: dict[str, dict[str, int]] = defaultdict(lambda: {"in_progress": 0, "overdue": 0})
    for code, e in received.items():
        if code not in resolved:
            expected[e.agencycode]["in_progress"] += 1
            expected[e.agencycode]["overdue"] += int(due[code][1] < at)
    got = {
        r["agency"]: {"in_progress": r["in_progress"], "overdue": r["overdue"]}
        for r in q.dossiers_open(loaded, at.astimezone(UTC))
    }
    assert got == dict(expected)


async def test_read_api_serves_every_family(
    loaded: ClickHouseStore,
    province: list[CloudEvent],
    chdb_dsn: str,
) -> None:
    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=loaded.database)
    async with running_service(settings, consume=False) as api:
        body = (await api.get("/v1/kpi/dossiers/by-agency")).raise_for_status().json()
        assert {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in body["rows"]
        } == expected_by_agency(province)
        objectives = (
            (await api.get("/v1/kpi/objectives", params={"period": "2026-Q1"}))
            .raise_for_status()
            .json()["rows"]
        )
        assert len(objectives) == 3
        q1 = (
            await api.get("/v1/kpi/dossiers/by-agency", params={"from": "2026-01", "to": "2026-03"})
        ).json()["rows"]
        for row, objective in zip(q1, objectives, strict=True):
            assert objective["agency"] == row["agency"]
            assert objective["measured_actual"] == pytest.approx(
                100 * row["on_time"] / row["resolved"], abs=1e-3
            )
            assert objective["measured_met"] == (objective["measured_actual"] >= 90.0)
        for path in (
            "/v1/kpi/complaints/by-agency-month",
            "/v1/kpi/satisfaction/by-agency-month",
            "/v1/kpi/audits/by-agency",
            "/v1/kpi/audits/coverage",
            "/v1/kpi/capa/by-agency",
            "/v1/kpi/dossiers/in-progress",
            "/v1/kpi/dossiers/by-procedure",
            "/v1/kpi/public-service-score/by-agency-month",
        ):
            assert (await api.get(path)).status_code == 200, path
        score = (
            await api.get("/v1/kpi/public-service-score/by-agency", params={"period": "2026-01"})
        ).json()["rows"]
        monthly = (
            await api.get(
                "/v1/kpi/public-service-score/by-agency-month",
                params={"from": "2026-01", "to": "2026-01"},
            )
        ).json()["rows"]
        # The monthly view and the period query agree on a one-month period.
        assert [r["score"] for r in score] == pytest.approx([r["score"] for r in monthly], abs=1e-3)
        assert (
            await api.get("/v1/kpi/public-service-score/by-agency", params={"period": "2026-W1"})
        ).status_code == 422


def test_management_review_report_is_self_contained_html(
    loaded: ClickHouseStore,
    province: list[CloudEvent],
    chdb_dsn: str,
    tmp_path: Path,
) -> None:
    from services.metrics.entrypoints.report_cli import write_report

    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=loaded.database)
    path = write_report(settings, "H56.01", "2026-Q1", tmp_path / "review.html", None)
    html = path.read_text(encoding="utf-8")
    q1 = expected_by_agency_months(province, ("2026-01", "2026-02", "2026-03"))["H56.01"]
    assert html.startswith("<!doctype html>") and "H56.01" in html
    assert html.count("<svg") >= 4
    assert f"<b>{q1['received']:,}</b>received" in html
    assert f"<b>{q1['late']:,}</b>late" in html
    assert "on_time_rate" in html  # the objective row
    for external in ("<script", "src=", "<link", "@import"):
        assert external not in html


def expected_by_agency_months(
    events: Sequence[CloudEvent], months: Sequence[str]
) -> dict[str, dict[str, int]]:
    from tests.unit.metrics.scenario import expected_by_agency_month

    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (agency, month), counts in expected_by_agency_month(list(events)).items():
        if month in months:
            for k, v in counts.items():
                totals[agency][k] += v
    return totals
