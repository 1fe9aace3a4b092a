"""Timeliness of updates end to end: events on Kafka (each delivered twice) → the metrics
consumer → ClickHouse (chDB) → the view Grafana reads, the read API, an objective on it and
the report."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from schemas.envelope import CloudEvent
from services.metrics.config import MetricsSettings
from services.metrics.domain.report_html import render_report
from services.metrics.entrypoints.report_cli import gather
from tests.integration.metrics.conftest import (
    NATIONAL_READER,
    produce,
    running_service,
    wait_for,
)
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))


def recorded(code: str, agency: str, happened: datetime, received: datetime | None) -> CloudEvent:
    """A dossier received at `happened`, recorded through intake at `received`."""
    event = f.received(code, agency, happened, happened + timedelta(days=30))
    return event.model_copy(update={"receivedtime": received})


FRI = datetime(2025, 3, 7, 16, tzinfo=ICT)
MON = datetime(2025, 3, 3, 9, tzinfo=ICT)
BEFORE_TET = datetime(2025, 1, 24, 16, tzinfo=ICT)  # Friday; Tết is off 25 Jan – 2 Feb
EVENTS = [
    # H56.01, March 2025: lags 1, 72, 96, 2, 3 hours; only the Tuesday one is over one
    # working day late (Friday → Monday is one working day).
    recorded("A-1", "H56.01", FRI, FRI + timedelta(hours=1)),
    recorded("A-2", "H56.01", FRI, datetime(2025, 3, 10, 16, tzinfo=ICT)),
    recorded("A-3", "H56.01", FRI, datetime(2025, 3, 11, 16, tzinfo=ICT)),
    recorded("A-4", "H56.01", MON, MON + timedelta(hours=2)),
    recorded("A-5", "H56.01", MON, MON + timedelta(hours=3)),
    recorded("A-6", "H56.01", MON, None),  # not through intake: no lag to count
    # H56.02, January 2025: 233 hours over Tết is one working day; 257 hours is two.
    recorded("B-1", "H56.02", BEFORE_TET, datetime(2025, 2, 3, 9, tzinfo=ICT)),
    recorded("B-2", "H56.02", BEFORE_TET, datetime(2025, 2, 4, 9, tzinfo=ICT)),
]
# A quality objective on it: at most 10 % recorded late in March (H56.01 records 20 %).
OBJECTIVE = f.objective_set(
    "OBJ-1", "H56.01", MON, "late_update_share", 10.0, "2025-03", comparison="at_most"
)
EXPECTED = {
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
        "median_lag_hours": 257.0,
        "p90_lag_hours": 257.0,
        "late_updates": 1,
        "calendared_updates": 2,
        "late_update_share": 50.0,
    },
}


async def test_lag_and_late_share_per_agency_and_month_from_kafka_to_the_api(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = [*EVENTS, OBJECTIVE]
    await produce(kafka_bootstrap, topic_prefix, events, times=2)  # a redelivery changes nothing
    async with running_service(metrics_settings) as api:
        await wait_for(api, lambda s: s["events"] >= len(events))
        response = await api.get("/v1/kpi/update-timeliness/by-agency-month")
        assert response.status_code == 200, response.text
        rows = {(r.pop("agency"), r.pop("month")): r for r in response.json()["rows"]}
        # The objective's event has no receipt: it is not an update of its own.
        assert rows == EXPECTED

        # Over a period: the quantiles of the period's events, not a mean of months.
        params = {"from": "2025-01", "to": "2025-03"}
        period = (await api.get("/v1/kpi/update-timeliness/by-agency", params=params)).json()
        by_agency = {r.pop("agency"): r for r in period["rows"]}
        assert by_agency == {agency: counts for (agency, _), counts in EXPECTED.items()}
        march = {"from": "2025-02", "to": "2025-03", "agency": "H56.02"}
        assert (await api.get("/v1/kpi/update-timeliness/by-agency", params=march)).json() == {
            "rows": []
        }

        (objective,) = (await api.get("/v1/kpi/objectives")).json()["rows"]
        assert objective["indicator"] == "late_update_share"
        assert (objective["measured_actual"], objective["measured_met"]) == (20.0, False)

        # The report, gathered through the same API (in a thread: this loop serves it).
        def report() -> str:
            with httpx.Client(base_url=str(api.base_url), headers=NATIONAL_READER) as client:
                return render_report(gather(client, "H56.01", "2025-03", datetime.now(UTC)))

        html = await asyncio.to_thread(report)
    figures = re.findall(r'<span class="kpi"><b>([^<]*)</b>([^<]+)</span>', html)
    shown = {label: value for value, label in figures}
    assert shown["events recorded"] == "5"
    assert shown["median lag (hours)"] == "3.0"
    assert shown["90th percentile lag (hours)"] == "96.0"
    assert shown["recorded over 1 working day late"] == "20.0%"
