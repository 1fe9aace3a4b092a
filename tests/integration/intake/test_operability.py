"""Health, readiness, metrics, request ids, OpenAPI."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from schemas.catalogue import PUBLISHED_FAMILIES
from services.intake.entrypoints.app import create_app
from tests.integration.intake.conftest import DEMO_TOKEN, bearer, event, settings_for

pytestmark = pytest.mark.integration


async def test_health_and_readiness(intake: httpx.AsyncClient) -> None:
    assert (await intake.get("/healthz")).json() == {"status": "ok"}
    ready = await intake.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_start_up_refuses_missing_topics_without_creating_them(
    kafka_bootstrap: str,
) -> None:
    prefix = f"missing{uuid.uuid4().hex[:8]}."
    app = create_app(settings_for(kafka_bootstrap, prefix))
    with pytest.raises(RuntimeError, match="create the topics"):
        async with app.router.lifespan_context(app):
            pass
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert [t for t in await admin.list_topics() if t.startswith(prefix)] == []
    finally:
        await admin.close()


async def test_the_request_id_goes_in_and_out(intake: httpx.AsyncClient) -> None:
    echoed = await intake.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert echoed.headers["x-request-id"] == "req-42"
    minted = await intake.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert minted.headers["x-request-id"] not in ("", "bad id with spaces")


async def test_metrics_count_accepted_rejected_duplicates_and_latency(
    intake: httpx.AsyncClient,
) -> None:
    sent = event("dossier.received")
    await intake.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN))
    await intake.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN))
    await intake.post("/v1/events", json={**sent, "colour": 1}, headers=bearer(DEMO_TOKEN))
    await intake.post("/v1/events", json=sent)
    text = (await intake.get("/metrics")).text
    assert 'qms_intake_events_accepted_total{family="dossier"} 1.0' in text
    assert 'qms_intake_events_duplicate_total{family="dossier"} 1.0' in text
    assert 'qms_intake_events_rejected_total{reason="invalid"} 1.0' in text
    assert 'qms_intake_requests_rejected_total{reason="missing_token",status="401"} 1.0' in text
    assert "qms_intake_publish_seconds_count 3.0" in text


async def test_openapi_has_an_example_for_every_family(intake: httpx.AsyncClient) -> None:
    document = (await intake.get("/openapi.json")).json()
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    for media_type in ("application/cloudevents+json", "application/json"):
        types = {e["value"]["type"] for e in body[media_type]["examples"].values()}
        assert {t.split(".")[2] for t in types} >= set(PUBLISHED_FAMILIES)
    batch = document["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]
    assert batch["application/cloudevents-batch+json"]["schema"]["maxItems"] == 1000
    assert "HTTPBearer" in document["components"]["securitySchemes"]


async def test_each_request_logs_one_json_line_with_its_id_and_publisher(
    start_intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    intake = await start_intake()
    await intake.post(
        "/v1/events",
        json=event("objective.set"),
        headers={**bearer(DEMO_TOKEN), "X-Request-ID": "trace-7"},
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    [entry] = [line for line in lines if line.get("request_id") == "trace-7"]
    assert entry["event"] == "request"
    assert (entry["publisher"], entry["status"], entry["path"]) == (
        "demo-province",
        202,
        "/v1/events",
    )
