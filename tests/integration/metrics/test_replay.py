"""`qms metrics replay` rebuilds every table from the topics, idempotently."""

from __future__ import annotations

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.kpi_queries import dossiers_by, stats
from services.metrics.config import MetricsSettings
from services.metrics.domain.periods import DayRange
from services.metrics.entrypoints.replay import replay_all
from tests.integration.metrics.conftest import produce, produce_raw
from tests.unit.metrics.scenario import dossier_province, expected_by_agency, other_families

pytestmark = pytest.mark.integration


async def test_replay_rebuilds_every_table_and_a_second_replay_changes_nothing(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = dossier_province(seed=5, dossiers=150) + other_families(seed=5)
    await produce(kafka_bootstrap, topic_prefix, events, times=2)
    await produce_raw(kafka_bootstrap, f"{topic_prefix}audit.v1", b"k", b'{"type": "x"}')
    store = ClickHouseStore(
        metrics_settings.clickhouse_dsn, metrics_settings.clickhouse_database
    ).open()
    try:
        # Something stale in the tables that a rebuild must drop.
        store.command(
            "INSERT INTO dossier_events (source, id, type, dossier, agency) "
            "VALUES ('s', 'i', 'vn.qms.dossier.received.v1', 'X', 'H99.99')"
        )
        first = await replay_all(metrics_settings, store=store)
        assert first.records == 2 * len(events) + 1 and first.rejected == 1
        assert stats(store)["events"] == len(events)
        counted = {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in dossiers_by(store, DayRange(), ("agency",))
        }
        assert counted == expected_by_agency(events)

        again = await replay_all(metrics_settings, rebuild=False, store=store)
        assert again.records == first.records
        assert stats(store)["events"] == len(events)
        assert {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in dossiers_by(store, DayRange(), ("agency",))
        } == counted
    finally:
        store.close()
