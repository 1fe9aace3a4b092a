"""Hostile publishers on the real broker: the attack, the refusal, and the victim's data intact."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.common.credentials import hash_token
from tests.integration.intake.conftest import (
    H56_DOSSIER_TOKEN,
    H57_COMPLAINT_TOKEN,
    IntakeFactory,
    bearer,
    event,
    read_topic,
)

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
AUDIT_TOKEN = "test-h56-audit-token"
H56_AUDIT_TOOL = {
    "name": "h56-audit-tool",
    "token_sha256": hash_token(AUDIT_TOKEN),
    "agencies": ["H56.*"],
    "families": ["audit"],
    "sources": ["urn:vn:gov:h56:iso-secretariat"],
}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    return body


async def test_a_publisher_cannot_squat_another_publishers_source_and_id(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    victims = event("dossier.received")
    # The attacker (scoped to H57 complaints) takes the victim's (source, id) first.
    squat = event(
        "complaint.filed", id=victims["id"], source=victims["source"], agencycode="H57.01"
    )
    refused = problem(
        await intake.post("/v1/events", json=squat, headers=bearer(H57_COMPLAINT_TOKEN)), 403
    )
    assert [e["field"] for e in refused["errors"]] == ["source"]
    batch = await intake.post("/v1/events/batch", json=[squat], headers=bearer(H57_COMPLAINT_TOKEN))
    assert batch.json()["results"][0]["problem"]["errors"][0]["field"] == "source"

    # The victim's real event is accepted, not answered "duplicate".
    accepted = await intake.post("/v1/events", json=victims, headers=bearer(H56_DOSSIER_TOKEN))
    assert accepted.status_code == 202 and accepted.json()["duplicate"] is False
    # Other content under the accepted id is a conflict, never a silent duplicate.
    altered = event("dossier.received", subject="H56.01-250301-9999")
    conflict = problem(
        await intake.post("/v1/events", json=altered, headers=bearer(H56_DOSSIER_TOKEN)), 409
    )
    assert [e["field"] for e in conflict["errors"]] == ["id"]
    resent = await intake.post("/v1/events", json=victims, headers=bearer(H56_DOSSIER_TOKEN))
    assert resent.status_code == 200 and resent.json()["duplicate"] is True

    [record] = await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")
    stored = json.loads(record.value)
    assert stored["publisher"] == "h56-dossier-system"
    assert {k: stored[k] for k in victims if k != "time"} == {
        k: victims[k] for k in victims if k != "time"
    }
    assert await read_topic(kafka_bootstrap, f"{topic_prefix}complaint.v1") == []


async def test_an_atomic_batch_with_a_conflicting_id_publishes_nothing(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    headers = bearer(H56_DOSSIER_TOKEN)
    assert (
        await intake.post("/v1/events", json=event("dossier.received"), headers=headers)
    ).status_code == 202
    batch = [event("dossier.resolved"), event("dossier.received", subject="H56.01-250301-9999")]
    body = problem(
        await intake.post("/v1/events/batch?atomic=true", json=batch, headers=headers), 409
    )
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "id")]
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")) == 1


async def test_conflicts_are_recognised_after_a_restart_and_by_another_replica(
    start_intake: IntakeFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    first = await start_intake()
    original = event("dossier.received")
    assert (
        await first.post("/v1/events", json=original, headers=bearer(H56_DOSSIER_TOKEN))
    ).status_code == 202
    # A replica started later rebuilds the window, content digests included, from the topic.
    replica = await start_intake()
    altered = event("dossier.received", subject="H56.01-250301-9999")
    problem(await replica.post("/v1/events", json=altered, headers=bearer(H56_DOSSIER_TOKEN)), 409)
    again = await replica.post("/v1/events", json=original, headers=bearer(H56_DOSSIER_TOKEN))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")) == 1


async def test_a_finding_against_an_agency_outside_the_scope_is_refused(
    start_intake: IntakeFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    intake = await start_intake(QMS_INTAKE_PUBLISHERS=[H56_AUDIT_TOOL])
    finding = event("audit.finding_recorded")  # envelope agency H56.01: in scope
    finding["data"]["audited_agency"] = "H57.01"  # the agency a CAPA would be opened against
    body = problem(await intake.post("/v1/events", json=finding, headers=bearer(AUDIT_TOKEN)), 403)
    assert [e["field"] for e in body["errors"]] == ["data.audited_agency"]
    assert "'H57.01'" in body["errors"][0]["reason"]
    atomic = await intake.post(
        "/v1/events/batch?atomic=true", json=[finding], headers=bearer(AUDIT_TOKEN)
    )
    assert problem(atomic, 403)["errors"][0]["field"] == "data.audited_agency"
    assert await read_topic(kafka_bootstrap, f"{topic_prefix}audit.v1") == []
    own = await intake.post(
        "/v1/events", json=event("audit.finding_recorded"), headers=bearer(AUDIT_TOKEN)
    )
    assert own.status_code == 202, own.text


POISON: list[tuple[str, str, Any]] = [
    ("dossier.received", "time", "0001-01-01T00:00:00+08:00"),
    ("dossier.received", "time", "1969-12-31T23:59:59Z"),
    ("dossier.received", "data.due_at", "9999-12-31T23:59:59-07:00"),
    ("dossier.received", "data.online_level", True),
    ("dossier.received", "data.online_level", "4"),
    ("satisfaction.rated", "data.score", 5.0),
    ("objective.set", "data.target", "98"),
]


@pytest.mark.parametrize(("name", "path", "value"), POISON)
async def test_values_the_stores_cannot_hold_are_422_naming_the_field(
    intake: httpx.AsyncClient,
    kafka_bootstrap: str,
    topic_prefix: str,
    name: str,
    path: str,
    value: Any,
) -> None:
    raw = event(name)
    target = raw
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    headers = bearer("dev-demo-province-token")
    single = problem(await intake.post("/v1/events", json=raw, headers=headers), 422)
    assert path in [e["field"] for e in single["errors"]]
    batch = await intake.post(
        "/v1/events/batch", json=[event(name, id="fine"), raw], headers=headers
    )
    results = batch.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert path in [e["field"] for e in results[1]["problem"]["errors"]]
    family = name.split(".")[0]
    [stored] = await read_topic(kafka_bootstrap, f"{topic_prefix}{family}.v1")
    assert json.loads(stored.value)["id"] == "fine"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_422_naming_the_field(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str, literal: str
) -> None:
    text = json.dumps(event("objective.set")).replace('"target": 98.0', f'"target": {literal}')
    assert literal in text
    headers = {**bearer("dev-demo-province-token"), "Content-Type": "application/json"}
    single = problem(await intake.post("/v1/events", content=text, headers=headers), 422)
    assert [e["field"] for e in single["errors"]] == ["data.target"]
    batch = await intake.post("/v1/events/batch", content=f"[{text}]", headers=headers)
    assert batch.json()["results"][0]["problem"]["errors"][0]["field"] == "data.target"
    assert await read_topic(kafka_bootstrap, f"{topic_prefix}objective.v1") == []


def binary_headers(sent: dict[str, Any], token: str, **overrides: str) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": sent["id"],
        "ce-source": sent["source"],
        "ce-type": sent["type"],
        "ce-subject": sent["subject"],
        "ce-time": sent["time"],
        "ce-agencycode": sent["agencycode"],
        "Content-Type": "application/json",
        **bearer(token),
    }
    return headers | overrides


async def test_binary_mode_headers_are_percent_decoded_then_scoped(
    intake: httpx.AsyncClient, kafka_bootstrap: str, topic_prefix: str
) -> None:
    sent = event("complaint.filed", source="urn:vn:gov:h57:feedback-portal", agencycode="H57.01")
    data = json.dumps(sent["data"])
    encoded = binary_headers(
        sent,
        H57_COMPLAINT_TOKEN,
        **{"ce-agencycode": "H57%2E01", "ce-source": "urn%3Avn%3Agov%3Ah57%3Afeedback-portal"},
    )
    accepted = await intake.post("/v1/events", content=data, headers=encoded)
    assert accepted.status_code == 202, accepted.text
    [record] = await read_topic(kafka_bootstrap, f"{topic_prefix}complaint.v1")
    stored = json.loads(record.value)
    assert (stored["agencycode"], stored["source"]) == ("H57.01", "urn:vn:gov:h57:feedback-portal")

    other = binary_headers(
        sent, H57_COMPLAINT_TOKEN, **{"ce-id": "x2", "ce-agencycode": "H58%2E01"}
    )
    refused = problem(await intake.post("/v1/events", content=data, headers=other), 403)
    assert refused["errors"][0] == {
        "field": "agencycode",
        "reason": "publisher 'h57-complaint-portal' may not publish for agency 'H58.01' "
        "(allowed: ['H57.01'])",
    }
    broken = binary_headers(sent, H57_COMPLAINT_TOKEN, **{"ce-id": "x3", "ce-subject": "C%FF"})
    invalid = problem(await intake.post("/v1/events", content=data, headers=broken), 422)
    assert invalid["errors"][0]["field"] == "subject"
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}complaint.v1")) == 1


async def test_a_batch_copy_is_a_duplicate_even_with_a_window_of_one(
    start_intake: IntakeFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    intake = await start_intake(QMS_INTAKE_DEDUP_MAX_ENTRIES=1)
    pair = [event("dossier.received"), event("dossier.resolved")]
    response = await intake.post(
        "/v1/events/batch", json=pair * 2, headers=bearer("dev-demo-province-token")
    )
    assert response.status_code == 200, response.text
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["accepted", "accepted", "duplicate", "duplicate"]
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")) == 2
