"""The walking-skeleton slice: dossier events on Kafka → the worker → ClickHouse → view and API."""

from __future__ import annotations

import clickhouse_connect
import pytest
from aiokafka import AIOKafkaConsumer

from services.common import deadletter
from services.metrics.config import MetricsSettings
from tests.integration.metrics.conftest import produce, produce_raw, running_service, wait_for
from tests.unit.metrics.scenario import (
    dossier_province,
    expected_by_agency,
    expected_by_agency_month,
)

pytestmark = pytest.mark.integration


async def test_dossiers_counted_once_per_agency_and_month_even_when_delivered_twice(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = dossier_province(seed=7, dossiers=300)
    # Every event twice (a publisher retry, a redelivery) plus one poison record.
    await produce(kafka_bootstrap, topic_prefix, events, times=2)
    await produce_raw(kafka_bootstrap, f"{topic_prefix}dossier.v1", b"bad", b"{not json")

    async with running_service(metrics_settings) as api:
        stats = await wait_for(api, lambda s: s["events"] >= len(events))
        assert stats["events"] == len(events)
        assert stats["published_events"] == len(events)

        # The ClickHouse view, read through clickhouse-connect.
        client = clickhouse_connect.get_client(
            dsn=metrics_settings.clickhouse_dsn, database=metrics_settings.clickhouse_database
        )
        rows = client.query(
            "SELECT agency, formatDateTime(month, '%Y-%m'), received, resolved, on_time, late "
            "FROM kpi_dossiers_agency_month"
        ).result_rows
        counted = {
            (a, m): {"received": r, "resolved": s, "on_time": o, "late": late}
            for a, m, r, s, o, late in rows
        }
        assert counted == expected_by_agency_month(events)

        # The read API the run summary uses.
        body = (await api.get("/v1/kpi/dossiers/by-agency")).raise_for_status().json()
        by_agency = {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in body["rows"]
        }
        assert by_agency == expected_by_agency(events)

        body = (
            (
                await api.get(
                    "/v1/kpi/dossiers/by-agency-month", params={"from": "2026-02", "to": "2026-02"}
                )
            )
            .raise_for_status()
            .json()
        )
        february = {
            (r["agency"], r["month"]): {
                k: r[k] for k in ("received", "resolved", "on_time", "late")
            }
            for r in body["rows"]
        }
        assert february == {
            k: v for k, v in expected_by_agency_month(events).items() if k[1] == "2026-02"
        }

        bad = await api.get("/v1/kpi/dossiers/by-agency", params={"from": "2026-13"})
        assert bad.status_code == 422 and "from" in bad.text

        # The poison record went to the dead-letter topic with its reason (read while the
        # service runs: a stop may cut a batch's dead-lettering short, to be redone later).
        consumer = AIOKafkaConsumer(
            f"{topic_prefix}deadletter.v1",
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        records = []
        try:
            for _ in range(60):
                batches = await consumer.getmany(timeout_ms=1000)
                records += [r for rs in batches.values() for r in rs]
                if records:
                    break
        finally:
            await consumer.stop()
    assert [r.value for r in records] == [b"{not json"]
    headers = deadletter.read_headers(records[0].headers)
    assert headers[deadletter.TOPIC] == f"{topic_prefix}dossier.v1"
    assert headers[deadletter.CONSUMER] == metrics_settings.consumer_group
    assert "not JSON" in headers[deadletter.REASON]
