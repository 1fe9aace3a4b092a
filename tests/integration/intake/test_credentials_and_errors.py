"""Credential scoping and every error status, on the real broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.intake.conftest import (
    DEMO_TOKEN,
    H56_DOSSIER_TOKEN,
    H57_COMPLAINT_TOKEN,
    IntakeFactory,
    bearer,
    event,
    read_topic,
)

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
H57_SOURCE = "urn:vn:gov:h57:feedback-portal"  # h57-complaint-portal owns urn:vn:gov:h57:*


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-token"), {"Authorization": "Basic ZGVtbzpkZW1v"}, bearer("")],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
async def test_401_without_a_valid_token(
    intake: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path, body in (
        ("/v1/events", event("dossier.received")),
        ("/v1/events/batch", [event("dossier.received")]),
    ):
        response = await intake.post(path, json=body, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_403_for_another_agency_names_the_agency(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    foreign = event("dossier.received", agencycode="H57.01")
    body = assert_problem(
        await intake.post("/v1/events", json=foreign, headers=bearer(H56_DOSSIER_TOKEN)), 403
    )
    assert body["errors"] == [
        {
            "field": "agencycode",
            "reason": "publisher 'h56-dossier-system' may not publish for agency 'H57.01' "
            "(allowed: ['H56.*'])",
        }
    ]
    own = await intake.post(
        "/v1/events", json=event("dossier.received"), headers=bearer(H56_DOSSIER_TOKEN)
    )
    assert own.status_code == 202
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")) == 1


async def test_403_for_a_family_the_publisher_may_not_publish(intake: httpx.AsyncClient) -> None:
    body = assert_problem(
        await intake.post(
            "/v1/events", json=event("complaint.filed"), headers=bearer(H56_DOSSIER_TOKEN)
        ),
        403,
    )
    assert body["errors"][0]["field"] == "type"
    assert "'complaint'" in body["errors"][0]["reason"]


async def test_403_per_item_in_a_batch_and_for_a_whole_atomic_batch(
    intake: httpx.AsyncClient,
) -> None:
    batch = [event("dossier.received"), event("dossier.received", id="x2", agencycode="H57.01")]
    per_item = await intake.post("/v1/events/batch", json=batch, headers=bearer(H56_DOSSIER_TOKEN))
    results = per_item.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert results[1]["problem"]["status"] == 403
    forbidden_only = [event("dossier.received", id="x3", agencycode="H58.01")]
    atomic = await intake.post(
        "/v1/events/batch?atomic=true", json=forbidden_only, headers=bearer(H56_DOSSIER_TOKEN)
    )
    assert assert_problem(atomic, 403)["errors"] == [
        {
            "index": 0,
            "field": "agencycode",
            "reason": "publisher 'h56-dossier-system' may not publish for agency 'H58.01' "
            "(allowed: ['H56.*'])",
        }
    ]


async def test_capa_events_cannot_be_published_through_intake(intake: httpx.AsyncClient) -> None:
    capa = event("dossier.received", type="vn.qms.capa.escalated.v1")
    response = await intake.post("/v1/events", json=capa, headers=bearer(DEMO_TOKEN))
    assert response.status_code in (403, 422)


async def test_413_past_the_body_limit_and_the_batch_limit(intake: httpx.AsyncClient) -> None:
    huge = event("dossier.received")
    huge["data"]["padding"] = "x" * (300 * 1024)
    body = assert_problem(
        await intake.post("/v1/events", json=huge, headers=bearer(DEMO_TOKEN)), 413
    )
    assert "262144 bytes" in str(body["detail"])

    too_many = [event("dossier.received", id=f"n{n}") for n in range(1001)]
    body = assert_problem(
        await intake.post("/v1/events/batch", json=too_many, headers=bearer(DEMO_TOKEN)), 413
    )
    assert "at most 1000" in str(body["detail"])


async def test_413_for_a_streamed_body_without_content_length(
    start_intake: IntakeFactory,
) -> None:
    intake = await start_intake(QMS_INTAKE_MAX_EVENT_BYTES=2048)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    response = await intake.post(
        "/v1/events",
        content=chunks(),
        headers={**bearer(DEMO_TOKEN), "Content-Type": "application/json"},
    )
    assert_problem(response, 413)


async def test_the_batch_limit_is_configurable(start_intake: IntakeFactory) -> None:
    intake = await start_intake(QMS_INTAKE_MAX_BATCH_EVENTS=2)
    three = [event("dossier.received", id=f"c{n}") for n in range(3)]
    assert_problem(
        await intake.post("/v1/events/batch", json=three, headers=bearer(DEMO_TOKEN)), 413
    )
    ok = await intake.post("/v1/events/batch", json=three[:2], headers=bearer(DEMO_TOKEN))
    assert ok.status_code == 200 and ok.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/events", "text/plain"),
        ("/v1/events", "application/xml"),
        ("/v1/events", ""),
        ("/v1/events/batch", "application/cloudevents+json"),
        ("/v1/events/batch", "text/csv"),
    ],
)
async def test_415_on_a_wrong_content_type(
    intake: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await intake.post(
        path,
        content=json.dumps(event("dossier.received")).encode(),
        headers={**bearer(DEMO_TOKEN), "Content-Type": content_type},
    )
    assert_problem(response, 415)


async def test_422_names_the_field_and_the_reason(intake: httpx.AsyncClient) -> None:
    bad = event("dossier.received")
    bad["data"]["channel"] = "online"
    del bad["data"]["online_level"]
    bad["data"]["applicant_id"] = "Nguyen Van A"
    body = assert_problem(
        await intake.post("/v1/events", json=bad, headers=bearer(DEMO_TOKEN)), 422
    )
    fields = [e["field"] for e in body["errors"]]
    assert "data.applicant_id" in fields
    assert all(e["reason"] for e in body["errors"])


async def test_422_for_a_time_too_far_in_the_future(start_intake: IntakeFactory) -> None:
    intake = await start_intake(QMS_INTAKE_FUTURE_SKEW_SECONDS=60)
    future = event("satisfaction.rated", time="2099-01-01T00:00:00Z")  # within the window
    body = assert_problem(
        await intake.post("/v1/events", json=future, headers=bearer(DEMO_TOKEN)), 422
    )
    assert body["type"] == "/problems/event-time-in-future"
    [error] = body["errors"]
    assert error["field"] == "time" and "60 s ahead" in error["reason"]


async def test_422_for_a_recorded_time_before_the_event_or_after_its_receipt(
    start_intake: IntakeFactory,
) -> None:
    # QMS_NOW: intake receives at 12:00 UTC on 1 June 2025, allowing 60 s of clock skew.
    intake = await start_intake(QMS_INTAKE_FUTURE_SKEW_SECONDS=60, QMS_NOW="2025-06-01T12:00:00Z")
    happened = "2025-03-05T11:00:00+07:00"
    for recorded, problem, reason in (
        ("2025-03-05T10:59:59+07:00", "/problems/invalid-event", "before the event happened"),
        # 10 minutes past: QMS_NOW advances with real time from intake's start, so a time
        # just past the skew would pass once the start took longer than the margin.
        ("2025-06-01T12:10:00Z", "/problems/event-time-in-future", "after intake received"),
    ):
        sent = event("satisfaction.rated", id=f"rec-{recorded}", time=happened)
        sent["recordedtime"] = recorded
        body = assert_problem(
            await intake.post("/v1/events", json=sent, headers=bearer(DEMO_TOKEN)), 422
        )
        assert body["type"] == problem
        [error] = body["errors"]
        assert error["field"] == "recordedtime" and reason in error["reason"], error
    # Imported history: recorded by the one-stop-shop in March, received in June.
    imported = event("satisfaction.rated", id="rec-imported", time=happened)
    imported["recordedtime"] = "2025-03-05T14:30:00+07:00"
    accepted = await intake.post("/v1/events", json=imported, headers=bearer(DEMO_TOKEN))
    assert accepted.status_code == 202, accepted.text


async def test_the_future_is_told_by_the_business_clock(start_intake: IntakeFactory) -> None:
    # QMS_NOW at the start of 2025: an event of mid-2025 is in the future for this intake,
    # although it lies in the past of the machine's clock.
    intake = await start_intake(QMS_INTAKE_FUTURE_SKEW_SECONDS=60, QMS_NOW="2025-01-01T00:00:00Z")
    later = event("satisfaction.rated", id="clock-later", time="2025-06-01T00:00:00Z")
    body = assert_problem(
        await intake.post("/v1/events", json=later, headers=bearer(DEMO_TOKEN)), 422
    )
    assert body["type"] == "/problems/event-time-in-future"
    earlier = event("satisfaction.rated", id="clock-earlier", time="2024-12-31T00:00:00Z")
    accepted = await intake.post("/v1/events", json=earlier, headers=bearer(DEMO_TOKEN))
    assert accepted.status_code == 202, accepted.text


async def test_400_on_a_body_that_is_not_json(intake: httpx.AsyncClient) -> None:
    response = await intake.post(
        "/v1/events",
        content=b"{not json",
        headers={**bearer(DEMO_TOKEN), "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


async def test_429_with_retry_after_past_the_publisher_rate_limit(
    intake: httpx.AsyncClient,
) -> None:
    # h57-complaint-portal: burst 5, 1 event/s (deploy/intake/publishers.dev.yaml).
    statuses = []
    for n in range(6):
        response = await intake.post(
            "/v1/events",
            json=event("complaint.filed", id=f"r{n}", agencycode="H57.01", source=H57_SOURCE),
            headers=bearer(H57_COMPLAINT_TOKEN),
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [202] * 5
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    # A batch larger than the whole bucket could never pass: 413, not an endless 429.
    big = [
        event("complaint.filed", id=f"b{n}", agencycode="H57.01", source=H57_SOURCE)
        for n in range(6)
    ]
    assert_problem(
        await intake.post("/v1/events/batch", json=big, headers=bearer(H57_COMPLAINT_TOKEN)), 413
    )


async def test_the_rate_limit_is_per_publisher(start_intake: IntakeFactory) -> None:
    intake = await start_intake(QMS_INTAKE_RATE_LIMIT_EPS=1, QMS_INTAKE_RATE_LIMIT_BURST=2)
    batch = [event("dossier.received", id=f"p{n}") for n in range(2)]
    assert (
        await intake.post("/v1/events/batch", json=batch, headers=bearer(DEMO_TOKEN))
    ).status_code == 200
    assert_problem(
        await intake.post("/v1/events", json=event("objective.set"), headers=bearer(DEMO_TOKEN)),
        429,
    )
    other = await intake.post(
        "/v1/events", json=event("dossier.received", id="other"), headers=bearer(H56_DOSSIER_TOKEN)
    )
    assert other.status_code == 202
