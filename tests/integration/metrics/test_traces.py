"""One trace from intake through Kafka into the metrics consumer (CloudEvents `traceparent`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.tracing import configure_tracing
from services.intake.entrypoints.app import create_app as create_intake
from services.metrics.config import MetricsSettings
from tests.integration.intake.conftest import DEMO_TOKEN, bearer, event, read_topic, settings_for
from tests.integration.metrics.conftest import running_service, wait_until_drained

pytestmark = pytest.mark.integration


async def publish_through_intake(
    kafka_bootstrap: str, topic_prefix: str, data_dir: Path, exporter: InMemorySpanExporter
) -> None:
    import httpx

    settings = settings_for(kafka_bootstrap, topic_prefix, QMS_DATA_DIR=str(data_dir))
    app = create_intake(settings, tracing=configure_tracing("qms-intake", None, exporter))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            response = await client.post(
                "/v1/events", json=event("objective.set"), headers=bearer(DEMO_TOKEN)
            )
            assert response.status_code == 202, response.text
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_an_event_through_intake_and_the_consumer_is_one_trace(
    kafka_bootstrap: str, topic_prefix: str, metrics_settings: MetricsSettings, tmp_path: Path
) -> None:
    intake_spans, consumer_spans = InMemorySpanExporter(), InMemorySpanExporter()
    await publish_through_intake(kafka_bootstrap, topic_prefix, tmp_path / "intake", intake_spans)
    (published,) = intake_spans.get_finished_spans()
    trace_id = f"{published.context.trace_id:032x}"
    span_id = f"{published.context.span_id:016x}"

    # The stored event carries the span's context: the ledger chains these very bytes.
    [record] = await read_topic(kafka_bootstrap, f"{topic_prefix}objective.v1")
    assert json.loads(record.value)["traceparent"].startswith(f"00-{trace_id}-{span_id}-")

    tracing = configure_tracing("qms-metrics", None, consumer_spans)
    async with running_service(metrics_settings, tracing=tracing):
        await wait_until_drained(
            kafka_bootstrap, topic_prefix, metrics_settings.consumer_group, within_s=120
        )
    ingested = [s for s in consumer_spans.get_finished_spans() if s.name == "metrics ingest"]
    assert ingested, "the consumer made no span"
    assert {f"{s.context.trace_id:032x}" for s in ingested} == {trace_id}
    assert all(
        s.parent is not None and s.parent.span_id == published.context.span_id for s in ingested
    )
    assert {link.context.span_id for s in ingested for link in s.links} == {
        published.context.span_id
    }


def test_tracing_is_off_without_an_endpoint() -> None:
    assert configure_tracing("qms-intake", None).enabled is False
