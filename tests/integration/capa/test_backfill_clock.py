"""A backfill of last year's history, evaluated by a CAPA service whose clock (QMS_NOW) is
set to the end of that history: overdue and escalations are those of that instant, not of
today (when every one of these CAPAs would be long overdue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.capa.domain.policies import capa_id_for
from tests.integration.capa.conftest import (
    CapaProcess,
    bearer,
    capa_env,
    eventually,
    finding,
    produce_raw,
    running_capa,
)

pytestmark = pytest.mark.integration

FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"
# The history ends a year ago, at noon in Vietnam (far from a day boundary either way).
HISTORY_END = datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0) - timedelta(
    days=365
)
ESCALATED = "vn.qms.capa.escalated.v1"


def noticed(event_id: str, days_before_end: int, classification: str = "major") -> dict[str, Any]:
    """A finding recorded `days_before_end` days before the history's end."""
    event = finding(event_id, classification=classification)
    event["time"] = (HISTORY_END - timedelta(days=days_before_end)).isoformat()
    return event


# Due dates by severity (the defaults): major 7 days to correct, 30 to close; minor 15 / 60.
# At the history's end, per finding: the due dates that have passed.
HISTORY = {
    "backfill-40d-major": (noticed("backfill-40d-major", 40), 2),  # correction and closure
    "backfill-10d-major": (noticed("backfill-10d-major", 10), 1),  # correction only
    "backfill-20d-minor": (noticed("backfill-20d-minor", 20, "minor"), 1),  # correction only
    "backfill-2d-major": (noticed("backfill-2d-major", 2), 0),  # nothing yet
}


@pytest.fixture(scope="module")
async def capa_service(
    kafka_bootstrap: str, capa_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CapaProcess]:
    """This module's CAPA service: its clock set to the history's end (the conftest's `api`
    talks to it)."""
    env = capa_env(kafka_bootstrap, capa_prefix, QMS_NOW=HISTORY_END.isoformat())
    async with running_capa(env, tmp_path_factory.mktemp("capa-backfill")) as service:
        yield service


def capa_of(event_id: str) -> str:
    return capa_id_for("audit_finding", FINDING_SOURCE, event_id)


async def test_backfill_gives_the_overdue_and_escalations_of_the_clock_instant(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [event for event, _ in HISTORY.values()])

    async def get(event_id: str) -> dict[str, Any]:
        response = await api.get(f"/v1/capas/{capa_of(event_id)}", headers=bearer("viewer"))
        return response.json() if response.status_code == 200 else {}

    async def all_opened() -> bool:
        return all([await get(event_id) for event_id in HISTORY])

    await eventually(all_opened)
    # A marker opened after the others: once the timer escalated it, it had seen them all.
    await produce_raw(kafka_bootstrap, capa_prefix, [noticed("backfill-marker", 40)])

    async def marker_escalated() -> dict[str, Any]:
        body = await get("backfill-marker")
        return body if body and len(body["capa"]["escalated_due_dates"]) == 2 else {}

    await eventually(marker_escalated)

    async def escalations_settled() -> dict[str, dict[str, Any]]:
        bodies = {event_id: await get(event_id) for event_id in HISTORY}
        settled = all(
            len(bodies[e]["capa"]["escalated_due_dates"]) >= passed
            for e, (_, passed) in HISTORY.items()
        )
        return bodies if settled else {}

    bodies = await eventually(escalations_settled)
    for event_id, (_, passed) in HISTORY.items():
        capa = bodies[event_id]["capa"]
        assert len(capa["escalated_due_dates"]) == passed, event_id
        assert capa["overdue"] is (passed > 0), event_id
        for escalation in (e for e in bodies[event_id]["history"] if e["type"] == ESCALATED):
            # Stamped by the service's clock: the end of the history, not today.
            at = datetime.fromisoformat(escalation["time"])
            assert HISTORY_END <= at < HISTORY_END + timedelta(days=1), escalation

    summary = (await api.get("/v1/capas/summary", headers=bearer("viewer"))).json()
    overdue_now_then = 1 + sum(passed > 0 for _, passed in HISTORY.values())  # + the marker
    assert summary["opened"] == len(HISTORY) + 1
    assert summary["overdue"] == summary["escalated"] == overdue_now_then
    listed = await api.get("/v1/capas", params={"overdue": "false"}, headers=bearer("viewer"))
    assert [c["capa_id"] for c in listed.json()["items"]] == [capa_of("backfill-2d-major")]


async def test_stats_say_caught_up_only_once_every_published_finding_is_a_capa(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    assert (await api.get("/v1/stats")).status_code == 401
    before = (await api.get("/v1/capas/summary", headers=bearer("viewer"))).json()["opened"]
    batch = [noticed(f"stats-{n}", 1) for n in range(12)]
    await produce_raw(kafka_bootstrap, capa_prefix, batch)

    async def caught_up() -> dict[str, Any]:
        stats = (await api.get("/v1/stats", headers=bearer("viewer"))).json()
        return stats if stats["consumer"]["caught_up"] else {}

    consumer = (await eventually(caught_up))["consumer"]
    # No polling from here: caught up means every one of them is decided already.
    summary = (await api.get("/v1/capas/summary", headers=bearer("viewer"))).json()
    assert summary["opened"] == before + len(batch)
    assert consumer["lag"] == 0 and consumer["group"] == f"{capa_prefix}capa"
    reported = {(p["topic"], p["partition"]) for p in consumer["partitions"]}
    assert {(f"{capa_prefix}audit.v1", n) for n in range(3)} <= reported
    assert {(f"{capa_prefix}capa.commands.v1", n) for n in range(3)} <= reported
