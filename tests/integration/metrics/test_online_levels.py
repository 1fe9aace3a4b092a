"""Online level 3 (partly online) and level 4 (full online) counted apart end to end: events
on Kafka → the metrics consumer → ClickHouse (chDB) → the read API → the report."""

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
from tests.integration.metrics.conftest import NATIONAL_READER, produce, running_service, wait_for
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))
AGENCY = "H56.01"
LEVELS = {"L3-1": 3, "L3-2": 3, "L3-3": 3, "L4-1": 4, "L2-1": 2}  # dossier → online level


def received_in_may() -> list[CloudEvent]:
    at, due = datetime(2026, 5, 4, 9, tzinfo=ICT), datetime(2026, 5, 20, 17, tzinfo=ICT)
    online = [
        f.received(c, AGENCY, at, due, channel="online", level=lv) for c, lv in LEVELS.items()
    ]
    return [
        *online,
        f.received("C-1", AGENCY, at, due, channel="counter"),
        f.received("C-2", AGENCY, at, due, channel="counter"),
        f.received("P-1", AGENCY, at, due, channel="postal"),
    ]


async def test_level_3_and_level_4_apart_from_kafka_to_the_report(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = received_in_may()
    await produce(kafka_bootstrap, topic_prefix, events, times=2)  # a redelivery changes nothing
    async with running_service(metrics_settings) as api:
        await wait_for(api, lambda s: s["events"] >= len(events))
        params = {"from": "2026-05", "to": "2026-05"}
        (row,) = (await api.get("/v1/kpi/dossiers/by-agency", params=params)).json()["rows"]
        assert {k: row[k] for k in ("received", "received_online", "received_online_l34")} == {
            "received": 8,
            "received_online": 5,
            "received_online_l34": 4,
        }
        assert (row["received_online_l3"], row["received_online_l4"]) == (3, 1)
        assert (row["received_counter"], row["received_postal"]) == (2, 1)

        # The score's online service is the full-online share: 1 of 8, not 5 of 8.
        score = {"period": "2026-05"}
        (scored,) = (await api.get("/v1/kpi/public-service-score/by-agency", params=score)).json()[
            "rows"
        ]
        assert scored["online_service"] == pytest.approx(12.5)
        (month,) = (await api.get("/v1/kpi/public-service-score/by-agency-month")).json()["rows"]
        assert month["online_service"] == pytest.approx(12.5)

        # The report, gathered through the same API (in a thread: this loop serves it).
        def report() -> str:
            with httpx.Client(base_url=str(api.base_url), headers=NATIONAL_READER) as client:
                return render_report(gather(client, AGENCY, "2026-05", datetime.now(UTC)))

        html = await asyncio.to_thread(report)
    figures = re.findall(r'<span class="kpi"><b>([^<]*)</b>([^<]+)</span>', html)
    shown = {label: value for value, label in figures}
    assert shown["level 3 (partly online)"] == "37.5%"
    assert shown["level 4 (full online)"] == "12.5%"
    assert shown["online share"] == "62.5%"
