"""`qms metrics replay` rebuilds every table from the topics, idempotently."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner, Result

from services.cli import app as qms
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.kpi_queries import dossiers_by, stats, update_timeliness_by
from services.metrics.adapters.mapping_processes import MappingProcesses
from services.metrics.config import MetricsSettings
from services.metrics.domain.periods import DayRange
from services.metrics.entrypoints.replay import ReplayRefused, replay_all
from tests.integration.metrics.conftest import produce, produce_raw
from tests.poison import poison_records
from tests.unit.metrics.scenario import dossier_province, expected_by_agency, other_families

pytestmark = pytest.mark.integration


async def test_replay_rebuilds_every_table_and_a_second_replay_changes_nothing(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # Imported history: each event recorded by its originating system an hour after it
    # happened (`recordedtime`); a replay keeps that, and the lag is measured from it.
    events = [
        e.model_copy(update={"recordedtime": e.time + timedelta(hours=1)})
        for e in dossier_province(seed=5, dossiers=150) + other_families(seed=5)
    ]
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
        timeliness = update_timeliness_by(store, DayRange(), ("agency",))
        assert sum(r["updates"] for r in timeliness) == len(events)
        assert {(r["median_lag_hours"], r["p90_lag_hours"]) for r in timeliness} == {(1.0, 1.0)}
        assert store.query(
            "SELECT countIf(dateDiff('minute', time, recorded_time) = 60) FROM events FINAL"
        ) == [(len(events),)]

        again = await replay_all(metrics_settings, rebuild=False, store=store)
        assert again.records == first.records
        assert stats(store)["events"] == len(events)
        assert {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in dossiers_by(store, DayRange(), ("agency",))
        } == counted
    finally:
        store.close()


async def test_a_replay_mapped_by_helper_processes_stores_every_record_once(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # Many small batches, mapped two at a time while the one before is stored, with poison
    # records among them: the tables count what a replay mapped here would count.
    events = dossier_province(seed=8, dossiers=120)
    await produce(kafka_bootstrap, topic_prefix, events[: len(events) // 2])
    poison = poison_records()
    for p in poison:
        await produce_raw(kafka_bootstrap, f"{topic_prefix}{p.topic}", b"k", p.value)
    await produce(kafka_bootstrap, topic_prefix, events[len(events) // 2 :])
    settings = metrics_settings.model_copy(update={"batch_size": 25})
    store = ClickHouseStore(settings.clickhouse_dsn, settings.clickhouse_database).open()
    try:
        with MappingProcesses(processes=2) as mapping:
            await asyncio.wait_for(mapping.wait_until_up(), 60)
            replayed = await replay_all(settings, store=store, mapping=mapping)
            assert mapping.batches_mapped_apart >= len(events) // 25
        assert (replayed.records, replayed.rejected) == (len(events) + len(poison), len(poison))
        assert stats(store)["events"] == len(events)
        assert {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in dossiers_by(store, DayRange(), ("agency",))
        } == expected_by_agency(events)
    finally:
        store.close()


def replay_cli(settings: MetricsSettings, *args: str) -> Result:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "QMS_TOPIC_PREFIX": settings.topic_prefix,
        "QMS_DATA_DIR": str(settings.data_dir),
        "CLICKHOUSE_DSN": settings.clickhouse_dsn,
        "CLICKHOUSE_DATABASE": settings.clickhouse_database,
    }
    return CliRunner().invoke(qms, ["metrics", "replay", *args], env=env)


async def test_replay_shows_its_progress_per_topic_on_stderr(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = dossier_province(seed=3, dossiers=40)
    await produce(kafka_bootstrap, topic_prefix, events)
    result = await asyncio.to_thread(replay_cli, metrics_settings)
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("replay: ")]
    assert progress, result.stderr
    last = progress[-1]
    dossier_topic = f"{topic_prefix}dossier.v1"
    assert f"{len(events):,}/{len(events):,} records" in last
    assert f"{dossier_topic} {len(events):,}/{len(events):,}" in last and "/s" in last
    assert f"replayed {len(events):,} records" in result.stdout


async def test_replay_refuses_to_drop_a_database_that_is_being_written(
    metrics_settings: MetricsSettings,
) -> None:
    store = ClickHouseStore(
        metrics_settings.clickhouse_dsn, metrics_settings.clickhouse_database
    ).open()
    try:
        # A row a live consumer just wrote.
        store.command(
            "INSERT INTO events (source, id, type, family, subject, agency, time, data, topic) "
            "VALUES ('s', 'i', 't', 'dossier', 'D1', 'H56.01', now64(3), '{}', 'x')"
        )
        with pytest.raises(ReplayRefused, match="inserted in the last"):
            await replay_all(metrics_settings, store=store)
        assert stats(store)["events"] == 1  # nothing dropped

        refused = await asyncio.to_thread(replay_cli, metrics_settings)
        assert refused.exit_code == 2
        assert (
            refused.stderr.strip().splitlines() == [refused.stderr.strip()]
            and "--force" in refused.stderr
        )

        forced = await replay_all(metrics_settings, store=store, force=True)
        assert forced.records == 0 and stats(store)["events"] == 0
    finally:
        store.close()


async def test_replay_refuses_while_the_metrics_consumer_group_has_members(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    member = AIOKafkaConsumer(
        f"{topic_prefix}dossier.v1",
        bootstrap_servers=kafka_bootstrap,
        group_id=metrics_settings.consumer_group,
        enable_auto_commit=False,
    )
    await member.start()
    try:
        while not member.assignment():  # joined the group (a deadline is the test timeout)
            await member.getmany(timeout_ms=200)
        with pytest.raises(ReplayRefused, match="1 active member"):
            await replay_all(metrics_settings)
    finally:
        await member.stop()
