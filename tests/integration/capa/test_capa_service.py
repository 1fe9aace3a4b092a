"""The CAPA service on the real broker: opened by policy, driven over HTTP, rebuilt on restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from schemas.catalogue import parse_event
from services.capa.adapters.http_client import CapaClient
from services.capa.adapters.signing import (
    ROUTE_COMMANDS,
    DecisionSigner,
    dev_private_key,
    load_signing_keys,
)
from services.capa.domain.policies import capa_id_for
from services.capa.domain.signature_audit import check_signatures
from services.capa.domain.state import local_date
from services.capa.entrypoints.cli import app as capa_cli
from services.capa.entrypoints.scripted_closure import DEV_TOKENS, walk_to_closure
from services.common import deadletter
from services.common.settings import DEV_USERS_FILE, Environment
from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app as create_intake_app
from tests.integration.capa.conftest import (
    CapaProcess,
    bearer,
    eventually,
    finding,
    produce_raw,
    signed_body,
)
from tests.support import dead_letter_headers

pytestmark = pytest.mark.integration

INTAKE_TOKEN = {"Authorization": "Bearer dev-demo-province-token"}
FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"


@pytest.fixture
async def intake(kafka_bootstrap: str, capa_prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real intake app, in process, publishing to this module's topics."""
    settings = IntakeSettings.model_validate(
        {
            "QMS_ENV": "development",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "QMS_TOPIC_PREFIX": capa_prefix,
        }
    )
    app = create_intake_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


def finding_capa_id(event_id: str) -> str:
    return capa_id_for("audit_finding", FINDING_SOURCE, event_id)


async def get_capa(api: httpx.AsyncClient, capa_id: str, who: str = "viewer") -> dict[str, Any]:
    response = await api.get(f"/v1/capas/{capa_id}", headers=bearer(who))
    return response.json() if response.status_code == 200 else {}


async def command(
    api: httpx.AsyncClient, who: str, capa_id: str, path: str, **body: Any
) -> httpx.Response:
    """POST a command; a decision is signed by `who` over the CAPA as it reads now."""
    if path in ROUTE_COMMANDS and "signature" not in body:
        body = await signed_body(api, who, capa_id, path, body)
    return await api.post(f"/v1/capas/{capa_id}/{path}", json=body, headers=bearer(who))


async def test_audit_finding_published_through_intake_opens_one_capa(
    api: httpx.AsyncClient, intake: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    raw = finding("finding-opens-1")
    accepted = await intake.post("/v1/events", json=raw, headers=INTAKE_TOKEN)
    assert accepted.status_code == 202, accepted.text
    again = await intake.post("/v1/events", json=raw, headers=INTAKE_TOKEN)
    assert again.status_code == 200  # intake recognised the duplicate id
    # A redelivery intake cannot see (the same record twice on the topic).
    await produce_raw(kafka_bootstrap, capa_prefix, [raw, raw])
    # An observation opens nothing; a later finding is a marker that the first is processed.
    observation = finding("finding-observation-1", classification="observation")
    marker = finding("finding-marker-1", classification="minor")
    for event in (observation, marker):
        assert (
            await intake.post("/v1/events", json=event, headers=INTAKE_TOKEN)
        ).status_code == 202

    capa_id = finding_capa_id("finding-opens-1")

    async def opened() -> dict[str, Any]:
        return await get_capa(api, capa_id)

    body = await eventually(opened)
    await eventually(lambda: get_capa(api, finding_capa_id("finding-marker-1")))
    await produce_raw(kafka_bootstrap, capa_prefix, [raw])
    marker2 = finding("finding-marker-2", classification="minor")
    await produce_raw(kafka_bootstrap, capa_prefix, [marker2])
    await eventually(lambda: get_capa(api, finding_capa_id("finding-marker-2")))

    body = await get_capa(api, capa_id)
    capa = body["capa"]
    assert capa["status"] == "opened" and capa["version"] == 1
    assert capa["source"] == "audit_finding" and capa["severity"] == "major"
    assert capa["references"] == [
        {"source": FINDING_SOURCE, "id": "finding-opens-1", "subject": "AUD-2026-07"}
    ]
    assert [e["type"] for e in body["history"]] == ["vn.qms.capa.opened.v1"]
    listed = (await api.get("/v1/capas", headers=bearer("viewer"))).json()
    ids = [c["capa_id"] for c in listed["items"]]
    assert ids.count(capa_id) == 1
    assert finding_capa_id("finding-observation-1") not in ids
    inspection = await api.get(
        "/v1/capas", params={"source": "inspection_finding"}, headers=bearer("viewer")
    )
    assert inspection.json()["total"] == 0


async def test_full_life_cycle_over_the_api_with_its_refusals(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-life-1")])
    capa_id = finding_capa_id("finding-life-1")
    await eventually(lambda: get_capa(api, capa_id))

    # Authentication, agency scope, role.
    assert (await api.get(f"/v1/capas/{capa_id}")).status_code == 401
    other_agency = await api.get(f"/v1/capas/{capa_id}", headers=bearer("owner_h57"))
    assert other_agency.status_code == 404
    assert (
        await command(
            api, "owner_h57", capa_id, "correction", expected_version=1, reason="r", correction="c"
        )
    ).status_code == 404
    cancel_by_owner = await command(
        api,
        "owner",
        capa_id,
        "cancellation",
        expected_version=1,
        reason="r",
        justification="duplicate",
    )
    assert cancel_by_owner.status_code == 403

    # Illegal transition: 422 naming the status and what it allows.
    early_close = await command(
        api, "secretary", capa_id, "closure", expected_version=1, reason="too soon"
    )
    assert early_close.status_code == 422
    problem = early_close.json()
    assert early_close.headers["content-type"].startswith("application/problem+json")
    assert problem["current_status"] == "opened"
    assert problem["allowed_commands"] == ["cancel", "record_correction", "record_root_cause"]

    # Bad payload: 422 naming the field.
    bad = await command(
        api,
        "owner",
        capa_id,
        "root-cause",
        expected_version=1,
        reason="r",
        method="astrology",
        category="process",
        text="t",
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.method"

    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("owner", "correction", {"correction": "Sheets completed for the 3 dossiers"}),
        (
            "owner",
            "root-cause",
            {
                "method": "five_whys",
                "category": "it_system",
                "text": "The one-stop-shop software skips the archive step",
            },
        ),
        (
            "owner",
            "action-plan",
            {
                "actions": [
                    {
                        "description": "Fix the workflow",
                        "owner_id": "officer-1111",
                        "due_on": (date.today() + timedelta(days=10)).isoformat(),
                    },
                    {
                        "description": "Train staff",
                        "owner_id": "auditor-0009",
                        "due_on": (date.today() + timedelta(days=12)).isoformat(),
                    },
                ]
            },
        ),
        ("owner", "actions/A1/completion", {"evidence": ["ticket:OSS-1"]}),
        ("owner", "actions/A2/completion", {}),
    ]
    version = 1
    for who, path, body in steps:
        response = await command(
            api, who, capa_id, path, expected_version=version, reason=f"step {path}", **body
        )
        assert response.status_code == 200, response.text
        version = response.json()["version"]
        assert version == response.json()["capa"]["version"]

    # Stale version: 409.
    stale = await command(
        api,
        "auditor",
        capa_id,
        "verification",
        expected_version=version - 1,
        reason="r",
        result="effective",
    )
    assert stale.status_code == 409 and stale.json()["current_version"] == version

    # The auditor owns action A2: the verifier is never an implementer.
    own = await command(
        api,
        "auditor",
        capa_id,
        "verification",
        expected_version=version,
        reason="r",
        result="effective",
    )
    assert own.status_code == 422 and "other than the implementers" in own.json()["detail"]

    # Ineffective (by the secretary) reopens; a new plan, then effective and closed.
    reopened = await command(
        api,
        "secretary",
        capa_id,
        "verification",
        expected_version=version,
        reason="late dossiers continue",
        result="ineffective",
    )
    assert reopened.status_code == 200 and reopened.json()["capa"]["status"] == "reopened"
    version = reopened.json()["version"]
    moment_reopened = datetime.now(UTC)
    round_two: list[tuple[str, str, dict[str, Any]]] = [
        (
            "owner",
            "action-plan",
            {
                "actions": [
                    {
                        "description": "Automate the archive step",
                        "owner_id": "officer-1111",
                        "due_on": (date.today() + timedelta(days=20)).isoformat(),
                    }
                ]
            },
        ),
        ("owner", "actions/A1/completion", {"evidence": ["release:2.3"]}),
        ("auditor", "verification", {"result": "effective", "evidence": ["sample:30"]}),
        ("secretary", "closure", {}),
    ]
    for who, path, body in round_two:
        response = await command(
            api, who, capa_id, path, expected_version=version, reason=f"round 2 {path}", **body
        )
        assert response.status_code == 200, response.text
        version = response.json()["version"]

    body = await get_capa(api, capa_id)
    assert body["capa"]["status"] == "closed" and body["capa"]["overdue"] is False
    history = body["history"]
    assert [e["data"]["sequence"] for e in history] == list(range(1, version + 1))
    assert all(e["data"]["reason"] and e["data"]["actor_id"] for e in history)
    assert history[-1]["data"]["actor_id"] == "secretary-01"

    # As of a past moment: the fold of the events up to then.
    as_of = await api.get(
        f"/v1/capas/{capa_id}",
        params={"as_of": moment_reopened.isoformat()},
        headers=bearer("viewer"),
    )
    assert as_of.json()["capa"]["status"] == "reopened"

    closed_again = await command(
        api, "secretary", capa_id, "closure", expected_version=version, reason="again"
    )
    assert closed_again.status_code == 422 and closed_again.json()["allowed_commands"] == []

    mine = await api.get("/v1/capas", params={"mine": "true"}, headers=bearer("owner"))
    assert capa_id in [c["capa_id"] for c in mine.json()["items"]]
    summary = (await api.get("/v1/capas/summary", headers=bearer("viewer"))).json()
    assert summary["closed"] >= 1 and summary["by_status"]["closed"] >= 1


async def _posted(
    api: httpx.AsyncClient, who: str, capa_id: str, path: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.post(f"/v1/capas/{capa_id}/{path}", json=body, headers=bearer(who))


async def test_a_closure_is_signed_over_the_current_state_and_verified_offline(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str, tmp_path: Path
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-signed-1")])
    capa_id = finding_capa_id("finding-signed-1")
    capa = (await eventually(lambda: get_capa(api, capa_id)))["capa"]
    due = (date.today() + timedelta(days=10)).isoformat()
    plan = {"actions": [{"description": "Fix", "owner_id": "officer-1111", "due_on": due}]}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("correction", {"correction": "Sheets completed"}),
        ("root-cause", {"method": "five_whys", "category": "process", "text": "No owner"}),
        ("action-plan", plan),
        ("actions/A1/completion", {}),
    ]
    for path, body in steps:
        done = await command(
            api, "owner", capa_id, path, expected_version=capa["version"], reason="r", **body
        )
        assert done.status_code == 200, done.text
        capa = done.json()["capa"]

    # The secretary signs a closure on this view; then the auditor's verification lands.
    closing = {"expected_version": capa["version"] + 1, "reason": "verified effective"}
    stale_closure = await signed_body(api, "secretary", capa_id, "closure", closing)
    verified = await command(
        api,
        "auditor",
        capa_id,
        "verification",
        expected_version=capa["version"],
        reason="sampled 10",
        result="effective",
    )
    assert verified.status_code == 200, verified.text
    current = verified.json()["capa"]
    assert current["state_hash"] == (await get_capa(api, capa_id))["capa"]["state_hash"]

    # The right version, but signed over the state before: refused, with the current hash.
    stale = await _posted(api, "secretary", capa_id, "closure", stale_closure)
    assert stale.status_code == 409, stale.text
    assert stale.json()["current_state_hash"] == current["state_hash"]
    assert stale.json()["errors"][0]["field"] == "body.signature.state_hash"

    # Signatures that do not verify, or mean something else, name the field at fault.
    valid = await signed_body(api, "secretary", capa_id, "closure", closing)
    value = valid["signature"]["value"]
    tampered = {**valid["signature"], "value": ("B" if value[0] == "A" else "A") + value[1:]}
    meaning = {**valid["signature"], "meaning": "approved_cancellation"}
    borrowed = DecisionSigner("secretary-01", dev_private_key("auditor-0009"))
    with_their_key = borrowed.sign_body(current, "closure", closing, datetime.now(UTC))
    for body, field in [
        ({**closing, "signature": tampered}, "body.signature.value"),
        (with_their_key, "body.signature.value"),
        ({**closing, "signature": meaning}, "body.signature.meaning"),
        (closing, "body.signature"),
    ]:
        refused = await _posted(api, "secretary", capa_id, "closure", body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
    accepted = await _posted(api, "secretary", capa_id, "closure", valid)
    assert accepted.status_code == 200, accepted.text

    # The history shows each signature, and the file verifies offline.
    body = await get_capa(api, capa_id)
    assert [(s["sequence"], s["meaning"], s["signer_id"]) for s in body["signatures"]] == [
        (6, "verified_effective", "auditor-0009"),
        (7, "approved_closure", "secretary-01"),
    ]
    assert body["history"][-1]["data"]["signature"] == valid["signature"]
    history = tmp_path / "history.json"
    history.write_text(json.dumps(body))
    verify = [
        "verify-signatures",
        f"--history-file={history}",
        f"--users-file={DEV_USERS_FILE}",
    ]
    assert CliRunner().invoke(capa_cli, verify).exit_code == 0
    body["history"][2]["data"]["text"] = "a friendlier root cause"
    history.write_text(json.dumps(body))
    mutated = CliRunner().invoke(capa_cli, verify)
    assert mutated.exit_code == 1
    assert {c["field"] for c in json.loads(mutated.output)["checks"]} == {"signature.state_hash"}


async def test_the_demo_script_signs_its_verifications_and_closures(
    api: httpx.AsyncClient, capa_service: CapaProcess, kafka_bootstrap: str, capa_prefix: str
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-scripted-1")])
    capa_id = finding_capa_id("finding-scripted-1")
    opened = (await eventually(lambda: get_capa(api, capa_id)))["capa"]

    def walk() -> dict[str, Any]:
        tokens = DEV_TOKENS
        with (
            CapaClient(capa_service.url, tokens.owner) as owner,
            CapaClient(capa_service.url, tokens.verifier) as verifier,
            CapaClient(capa_service.url, tokens.closer) as closer,
        ):
            return walk_to_closure(opened, owner, verifier, closer)

    closed = await asyncio.to_thread(walk)
    assert closed["status"] == "closed"
    history = [parse_event(e) for e in (await get_capa(api, capa_id))["history"]]
    keys = load_signing_keys(DEV_USERS_FILE, Environment.DEVELOPMENT)
    checks = check_signatures(history, keys)
    assert [(c.meaning, c.ok) for c in checks] == [
        ("verified_effective", True),
        ("approved_closure", True),
    ]


async def test_overdue_capa_is_escalated_once_per_due_date(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    # Noticed 40 days ago: both the correction (7 d) and closure (30 d) due dates passed.
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-old-1", days_ago=40)])
    capa_id = finding_capa_id("finding-old-1")

    async def escalated_twice() -> dict[str, Any]:
        body = await get_capa(api, capa_id)
        return body if body and len(body["capa"]["escalated_due_dates"]) == 2 else {}

    body = await eventually(escalated_twice)
    assert body["capa"]["overdue"] is True
    overdue = await api.get("/v1/capas", params={"overdue": "true"}, headers=bearer("viewer"))
    assert capa_id in [c["capa_id"] for c in overdue.json()["items"]]
    # Later timer ticks add nothing: each due date is escalated once.
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-marker-3")])
    await eventually(lambda: get_capa(api, finding_capa_id("finding-marker-3")))
    later = await get_capa(api, capa_id)
    escalations = [e for e in later["history"] if e["type"] == "vn.qms.capa.escalated.v1"]
    assert len(escalations) == 2


async def test_late_dossiers_of_a_month_share_one_capa(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    due = datetime(2026, 5, 4, 10, tzinfo=UTC)

    def resolved(code: str, hours_late: float) -> dict[str, Any]:
        return {
            "id": f"ev-{code}",
            "source": "urn:vn:gov:h56:one-stop-shop",
            "type": "vn.qms.dossier.resolved.v1",
            "subject": code,
            "time": (due + timedelta(hours=hours_late)).isoformat(),
            "agencycode": "H56.02",
            "data": {
                "procedure_code": "1.004227",
                "outcome": "approved",
                "received_at": (due - timedelta(days=5)).isoformat(),
                "due_at": due.isoformat(),
            },
        }

    late = [resolved("D-1", 5), resolved("D-2", 30), resolved("D-3", -2), resolved("D-1", 5)]
    await produce_raw(kafka_bootstrap, capa_prefix, late)
    capa_id = capa_id_for("late_dossiers", "H56.02", "1.004227", "2026-05")

    async def two_linked() -> dict[str, Any]:
        body = await get_capa(api, capa_id)
        return body if body and len(body["capa"]["references"]) == 2 else {}

    body = await eventually(two_linked)
    assert body["capa"]["period"] == "2026-05"

    # Let the escalation timer settle on it, so the restart test compares a quiet state.
    today = local_date(datetime.now(UTC)).isoformat()

    async def escalations_settled() -> dict[str, Any]:
        capa = (await get_capa(api, capa_id))["capa"]
        passed = {d for d in (capa["correction_due_on"], capa["closure_due_on"]) if d < today}
        return capa if passed <= set(capa["escalated_due_dates"]) else {}

    await eventually(escalations_settled)
    assert [e["type"] for e in body["history"]][:2] == [
        "vn.qms.capa.opened.v1",
        "vn.qms.capa.nonconformity_linked.v1",
    ]


async def test_a_poison_finding_is_dead_lettered_and_the_findings_around_it_open_once(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    before, after = finding("poison-before-1"), finding("poison-after-1")
    year_one = finding("poison-year-one-1") | {"time": "0001-01-01T00:00:00+08:00"}
    values = [json.dumps(e).encode() for e in (before, year_one)] + [b"{not json"]
    values.append(json.dumps(after).encode())
    # One key: one partition of audit.v1, the poison records between ordinary findings.
    topic = f"{capa_prefix}audit.v1"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, v, key=b"AUD-2026-07") for v in values]
    finally:
        await producer.stop()
    assert len({m.partition for m in sent}) == 1

    for event in (before, after):
        await eventually(lambda event=event: get_capa(api, finding_capa_id(event["id"])))
    listed = (await api.get("/v1/capas", params={"limit": 1000}, headers=bearer("viewer"))).json()
    ids = [c["capa_id"] for c in listed["items"]]
    for event in (before, after):
        assert ids.count(finding_capa_id(event["id"])) == 1
        body = await get_capa(api, finding_capa_id(event["id"]))
        assert [e["type"] for e in body["history"]] == ["vn.qms.capa.opened.v1"]
    assert finding_capa_id("poison-year-one-1") not in ids

    letters = await dead_letter_headers(kafka_bootstrap, f"{capa_prefix}deadletter.v1", 2)
    by_offset = {int(h[deadletter.OFFSET]): h for h in letters}
    for metadata in sent[1:3]:
        headers = by_offset[metadata.offset]
        assert headers[deadletter.TOPIC] == topic
        assert int(headers[deadletter.PARTITION]) == metadata.partition
        assert headers[deadletter.CONSUMER] == f"{capa_prefix}capa"
    assert "time" in by_offset[sent[1].offset][deadletter.REASON]
    assert "JSON" in by_offset[sent[2].offset][deadletter.REASON]


async def test_worker_killed_and_restarted_answers_with_the_same_state(
    api: httpx.AsyncClient, capa_service: CapaProcess
) -> None:
    # Runs last in this module: it kills the service the other tests used.
    before = (await api.get("/v1/capas", params={"limit": 1000}, headers=bearer("viewer"))).json()
    assert before["total"] >= 3
    sample = before["items"][0]["capa_id"]
    history_before = (await get_capa(api, sample))["history"]

    capa_service.kill()
    capa_service.start()  # a fresh state directory: the tables come back from Kafka
    await capa_service.wait_ready()

    async def rebuilt() -> dict[str, Any]:
        response = await api.get("/v1/capas", params={"limit": 1000}, headers=bearer("viewer"))
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return body if body.get("total") == before["total"] else {}

    after = await eventually(rebuilt)
    assert after["items"] == before["items"]
    assert (await get_capa(api, sample))["history"] == history_before
    # And it still decides: a stale command is refused against the rebuilt version.
    stale = await command(
        api,
        "owner",
        sample,
        "correction",
        expected_version=before["items"][0]["version"] + 5,
        reason="r",
        correction="c",
    )
    assert stale.status_code in (409, 422)
