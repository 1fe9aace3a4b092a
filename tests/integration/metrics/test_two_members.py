"""Two members of the metrics consumer group on the real broker, one leaving mid-stream:
every dossier counted once. Both share one store here (the embedded engine admits one
process per data path); on a ClickHouse server they would be two processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

import pytest
from aiokafka import TopicPartition

from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import store_for
from services.metrics.config import MetricsSettings
from services.metrics.domain.periods import DayRange
from services.metrics.entrypoints.consumer import MetricsWorker
from tests.integration.metrics.conftest import produce
from tests.unit.metrics.scenario import dossier_province, expected_by_agency

pytestmark = pytest.mark.integration

WAIT_S = 120.0  # a deadline on a busy machine, not a measurement


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.2)


def every_partition(worker: MetricsWorker) -> set[TopicPartition]:
    """Every partition of the worker's topics, as its consumer's metadata knows them."""
    return {
        TopicPartition(topic, p)
        for topic in worker.topics
        for p in worker.consumer.partitions_for_topic(topic) or ()
    }


async def test_two_members_share_the_partitions_and_count_every_event_once(
    kafka_bootstrap: str, topic_prefix: str, metrics_settings: MetricsSettings
) -> None:
    settings = metrics_settings.model_copy(update={"batch_size": 50})
    events = dossier_province(seed=29, dossiers=1500)
    store = store_for(settings)
    await asyncio.to_thread(partial(store.open, migrate=True))
    try:
        first = MetricsWorker(settings, store)
        second = MetricsWorker(settings, store)

        def stored() -> int:
            return int(kpi_queries.stats(store)["events"])

        async with first.running():
            async with second.running():
                # Until the first member rejoins, it still holds what it had alone.
                await until(
                    lambda: (
                        bool(first.assignment())
                        and bool(second.assignment())
                        and not first.assignment() & second.assignment()
                        and first.assignment() | second.assignment() == every_partition(first)
                    ),
                    "both members hold partitions, each partition one of them",
                )
                await produce(kafka_bootstrap, topic_prefix, events)
                await until(lambda: stored() > 0, "the first events stored")
            # The second member left mid-stream: the first takes its partitions over and
            # re-reads them from the committed offsets.
            assert stored() < len(events), "the second member did not leave mid-stream"
            await until(lambda: stored() >= len(events), "every event stored")
            await until(
                lambda: first.assignment() == every_partition(first),
                "the first holds every partition",
            )
        rows = kpi_queries.dossiers_by(store, DayRange(), ("agency",))
        counted = {
            r["agency"]: {k: int(r[k]) for k in ("received", "resolved", "on_time", "late")}
            for r in rows
        }
        assert stored() == len(events)
        assert counted == expected_by_agency(events)
    finally:
        store.close()
