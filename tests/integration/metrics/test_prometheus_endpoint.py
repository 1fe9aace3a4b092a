"""The metrics service answers /metrics with its consumer lag, batches and process figures."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.metrics.config import MetricsSettings
from tests.integration.metrics.conftest import produce, running_service, wait_until_drained
from tests.unit.metrics.scenario import dossier_province

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_shows_the_drained_group_at_zero_lag_and_its_batches(
    kafka_bootstrap: str, topic_prefix: str, metrics_settings: MetricsSettings
) -> None:
    settings = metrics_settings.model_copy(update={"lag_refresh_s": 0.5})
    group = settings.consumer_group
    await produce(kafka_bootstrap, topic_prefix, dossier_province(seed=3, dossiers=40))
    async with running_service(settings) as client:
        await wait_until_drained(kafka_bootstrap, topic_prefix, group, within_s=120)
        topic = f"{topic_prefix}dossier.v1"
        lag: dict[str, float] = {}
        for _ in range(60):  # the next lag reading after the drain
            response = await client.get("/metrics")
            found = samples(response.text)
            lag = {
                dict(labels)["partition"]: value
                for (name, labels), value in found.items()
                if name == "qms_consumer_lag_records"
                and dict(labels)["consumer"] == group
                and dict(labels)["topic"] == topic
            }
            if lag and not any(lag.values()):
                break
            await asyncio.sleep(0.5)
    assert response.headers["content-type"].startswith("text/plain")
    assert lag and not any(lag.values()), lag
    batches = found[("qms_consumer_batch_records_count", (("consumer", group),))]
    assert batches >= 1
    assert found[("qms_consumer_batch_records_sum", (("consumer", group),))] >= 40
    assert any(name == "process_resident_memory_bytes" for name, _ in found)
