"""Publishing on the real broker: what a 202 promises is on the topic, once."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from services.intake.adapters.kafka_log import KafkaEventLog, make_producer
from services.intake.service_layer.ports import OutgoingRecord, Position
from tests.integration.intake.conftest import (
    DEMO_TOKEN,
    PARTITIONS,
    IntakeFactory,
    bearer,
    event,
    read_topic,
    settings_for,
)

pytestmark = pytest.mark.integration

STRUCTURED = {"Content-Type": "application/cloudevents+json"}


async def test_a_202_event_is_on_its_family_topic_keyed_by_subject(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    sent = event("dossier.received")
    response = await intake.post(
        "/v1/events", content=json.dumps(sent), headers={**bearer(DEMO_TOKEN), **STRUCTURED}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["topic"] == f"{topic_prefix}dossier.v1"
    assert body["duplicate"] is False

    records = await read_topic(kafka_bootstrap, body["topic"])
    [record] = [
        r for r in records if (r.partition, r.offset) == (body["partition"], body["offset"])
    ]
    assert record.key == sent["subject"].encode()
    value = json.loads(record.value)
    assert value["id"] == sent["id"] and value["data"] == sent["data"]
    assert value["publisher"] == "demo-province"
    assert value["receivedtime"].startswith(body["receivedtime"][:19])
    assert dict(record.headers)["content-type"].startswith(b"application/cloudevents+json")


async def test_binary_mode_publishes_the_same_event(
    intake: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sent = event("satisfaction.rated", id="binary-1")
    headers = {
        "ce-specversion": "1.0",
        "ce-id": sent["id"],
        "ce-source": sent["source"],
        "ce-type": sent["type"],
        "ce-subject": sent["subject"],
        "ce-time": sent["time"].replace("+", "%2B"),  # percent-encoded, as the binding says
        "ce-agencycode": sent["agencycode"],
        "Content-Type": "application/json",
        **bearer(DEMO_TOKEN),
    }
    response = await intake.post("/v1/events", content=json.dumps(sent["data"]), headers=headers)
    assert response.status_code == 202, response.text
    records = await read_topic(kafka_bootstrap, response.json()["topic"])
    [value] = [json.loads(r.value) for r in records]
    assert value["id"] == "binary-1" and value["data"] == sent["data"]
    assert value["time"] == "2025-03-05T11:00:00+07:00"


async def test_a_duplicate_is_answered_with_the_original_and_not_appended(
    intake: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sent = event("complaint.filed")
    first = await intake.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN))
    again = await intake.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN))
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {**first.json(), "duplicate": True}
    batch = await intake.post("/v1/events/batch", json=[sent, sent], headers=bearer(DEMO_TOKEN))
    assert [r["status"] for r in batch.json()["results"]] == ["duplicate", "duplicate"]
    assert batch.json()["duplicates"] == 2
    records = await read_topic(kafka_bootstrap, first.json()["topic"])
    assert len(records) == 1


async def test_duplicates_are_recognised_after_a_restart(
    start_intake: IntakeFactory, kafka_bootstrap: str
) -> None:
    sent = event("audit.finding_recorded")
    first_app = await start_intake()
    first = await first_app.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN))
    assert first.status_code == 202
    restarted = await start_intake()  # a new process would read the window back the same way
    again = await restarted.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN))
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert len(await read_topic(kafka_bootstrap, first.json()["topic"])) == 1


async def test_a_batch_gives_one_result_per_event_and_rejected_items_never_reach_kafka(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    good = [event("dossier.received", id=f"good-{n}", subject=f"H56.01-B-{n}") for n in range(3)]
    invalid = event("dossier.received", id="bad-due", subject="H56.01-B-bad")
    invalid["data"]["due_at"] = "2025-01-01T00:00:00+07:00"
    unknown = event("dossier.received", id="bad-unknown", subject="H56.01-B-unk", colour="red")
    batch = [good[0], invalid, good[1], unknown, good[2]]
    response = await intake.post(
        "/v1/events/batch",
        json=batch,
        headers={**bearer(DEMO_TOKEN), "Content-Type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 2)
    statuses = [(r["index"], r["id"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "good-0", "accepted"),
        (1, "bad-due", "rejected"),
        (2, "good-1", "accepted"),
        (3, "bad-unknown", "rejected"),
        (4, "good-2", "accepted"),
    ]
    problem = body["results"][1]["problem"]
    assert problem["status"] == 422
    assert problem["errors"][0]["index"] == 1 and problem["errors"][0]["field"] == "data.due_at"
    assert body["results"][3]["problem"]["errors"][0]["field"] == "colour"

    on_topic = [
        json.loads(r.value)["id"]
        for r in await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")
    ]
    assert sorted(on_topic) == ["good-0", "good-1", "good-2"]


async def test_an_atomic_batch_with_one_bad_item_publishes_nothing(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    good = event("complaint.filed", id="atomic-good")
    bad = event("complaint.filed", id="atomic-bad")
    bad["data"]["kind"] = "rant"
    bad_too = event("objective.set", id="atomic-bad-2")
    bad_too["data"]["period"] = "next year"
    response = await intake.post(
        "/v1/events/batch?atomic=true", json=[good, bad, bad_too], headers=bearer(DEMO_TOKEN)
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "data.kind"), (2, "data.period")]
    for family in ("complaint", "objective"):
        assert await read_topic(kafka_bootstrap, f"{topic_prefix}{family}.v1") == []

    accepted = await intake.post(
        "/v1/events/batch?atomic=true", json=[good], headers=bearer(DEMO_TOKEN)
    )
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 1


async def test_every_openapi_example_is_accepted(intake: httpx.AsyncClient) -> None:
    document = (await intake.get("/openapi.json")).json()
    content = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    examples = content["application/cloudevents+json"]["examples"]
    for name, example in examples.items():
        response = await intake.post(
            "/v1/events", json=example["value"], headers=bearer(DEMO_TOKEN)
        )
        assert response.status_code == 202, (name, response.text)


async def test_batches_admitted_in_a_worker_process_give_the_same_results(
    start_intake: IntakeFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    intake = await start_intake(QMS_INTAKE_ADMISSION_WORKERS=1)
    good = [event("dossier.received", id=f"w-{n}", subject=f"H56.01-W-{n}") for n in range(120)]
    bad = event("dossier.received", id="w-bad", colour="red")
    response = await intake.post("/v1/events/batch", json=[*good, bad], headers=bearer(DEMO_TOKEN))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (120, 1)
    assert body["results"][120]["problem"]["errors"][0] == {
        "index": 120,
        "field": "colour",
        "reason": "unknown field",
    }
    on_topic = await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")
    assert len(on_topic) == 120


async def test_concurrent_batches_share_producer_batches_and_every_position_is_true(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Records of concurrent requests go out in shared batches: each reported position holds
    that very event, on the partition Kafka's default partitioner gives its subject, and
    events of one subject keep their order."""
    batches = [
        [event("dossier.received", id=f"c{b}-{n}", subject=f"H56.01-C-{n % 7}") for n in range(60)]
        for b in range(6)
    ]
    responses = await asyncio.gather(
        *(
            intake.post("/v1/events/batch", json=batch, headers=bearer(DEMO_TOKEN))
            for batch in batches
        )
    )
    reported: dict[str, tuple[int, int]] = {}
    for response in responses:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted"] == 60
        for result in body["results"]:
            reported[result["id"]] = (result["partition"], result["offset"])
    records = await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")
    on_topic = {(r.partition, r.offset): json.loads(r.value) for r in records}
    assert len(on_topic) == len(reported) == 360
    partitions = list(range(PARTITIONS["dossier.v1"]))
    for event_id, position in reported.items():
        stored = on_topic[position]
        assert stored["id"] == event_id
        key = stored["subject"].encode()
        assert position[0] == DefaultPartitioner()(key, partitions, partitions)
    for batch in batches:  # within a request, a subject's events are in request order
        for subject in {e["subject"] for e in batch}:
            offsets = [reported[e["id"]][1] for e in batch if e["subject"] == subject]
            assert offsets == sorted(offsets)


async def test_a_record_too_large_for_the_producer_fails_alone(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """An oversized record is refused before it joins a shared batch and sinks the others."""
    settings = settings_for(kafka_bootstrap, topic_prefix)
    producer = make_producer(settings)
    await producer.start()
    try:
        log = KafkaEventLog(producer, timeout_s=15, max_record_bytes=600)
        topic = f"{topic_prefix}dossier.v1"
        small = OutgoingRecord(topic, b"H56.01-S-1", b"{}", [], 0)
        large = OutgoingRecord(topic, b"H56.01-S-2", b"x" * 700, [], 0)
        results = await log.append([small, large, small._replace(key=b"H56.01-S-3")])
    finally:
        await producer.stop()
    assert isinstance(results[0], Position) and isinstance(results[2], Position)
    assert isinstance(results[1], MessageSizeTooLargeError)
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")) == 2
