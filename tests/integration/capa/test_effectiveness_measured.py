"""Effectiveness measured on the real stack: a CAPA worker on the broker, ClickHouse on chDB.

Two late-dossier CAPAs of one agency are opened by the policy and driven to "actions
completed" over the API. In the window after that, the late dossiers of one procedure come
back and those of the other do not. The check (`qms metrics effectiveness-check`) reads
ClickHouse and records one measurement each on the command topic: the first is ineffective
by measurement and reopened, the second effective. A second run records nothing more, and
the CAPA board and its dashboard panel count both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.binding import to_kafka_record
from schemas.catalogue import parse_event, topic_for
from schemas.envelope import CloudEvent
from services.capa.domain.policies import late_dossier_capa_id, resolution_month
from services.common.deadletter import RecordPosition
from services.common.settings import REPO_ROOT
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import Batch
from services.metrics.domain.tokens import batch_token
from services.metrics.entrypoints.effectiveness_check import run_effectiveness_check
from tests.integration.capa.conftest import (
    CapaProcess,
    bearer,
    capa_env,
    eventually,
    produce_raw,
    running_capa,
)
from tests.integration.metrics.grafana_macros import ALL, expand

pytestmark = pytest.mark.integration

AGENCY = "H56.01"
RECURRING, QUIET = "2.000101", "2.000102"  # the procedures of the two CAPAs
MEASURED = "vn.qms.capa.effectiveness_measured.v1"
PANEL = "CAPAs effective by measurement vs by verdict"
# The CAPA service's business clock starts this long ago (QMS_NOW), so the actions were done
# long enough ago for their window to have ended by now, and the measurement is dated now.
CLOCK_BEHIND = timedelta(days=40)


@pytest.fixture(scope="module")
async def capa_service(
    kafka_bootstrap: str, capa_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CapaProcess]:
    started = (datetime.now(UTC) - CLOCK_BEHIND).isoformat()
    env = capa_env(kafka_bootstrap, capa_prefix, QMS_NOW=started)
    async with running_capa(env, tmp_path_factory.mktemp("capa")) as service:
        yield service


def resolved(code: str, procedure: str, at: datetime, hours_late: float) -> dict[str, Any]:
    """A dossier.resolved event of AGENCY, `hours_late` after its due time (< 0: on time)."""
    due = at - timedelta(hours=hours_late)
    return {
        "specversion": "1.0",
        "id": f"ev-{code}",
        "source": "urn:vn:gov:h56:one-stop-shop",
        "type": "vn.qms.dossier.resolved.v1",
        "subject": code,
        "time": at.isoformat(),
        "agencycode": AGENCY,
        "data": {
            "procedure_code": procedure,
            "outcome": "approved",
            "received_at": (due - timedelta(days=5)).isoformat(),
            "due_at": due.isoformat(),
        },
    }


class Facts:
    """ClickHouse on chDB, fed as the metrics consumer would (batches with their tokens)."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.offsets: dict[str, int] = {}

    def store(self) -> ClickHouseStore:
        return ClickHouseStore(self.dsn, self.database).open()

    def insert(self, events: Sequence[CloudEvent]) -> None:
        batch = Batch()
        for event in events:
            topic = topic_for(event.type, "qms.")
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            batch.add(RecordPosition(topic, 0, offset), None, to_kafka_record(event).value)
        store = self.store()
        try:
            store.insert_batch(batch.rows, batch_token(batch.positions))
        finally:
            store.close()


@pytest.fixture
def facts(chdb_dsn: str) -> Iterator[Facts]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    yield Facts(chdb_dsn, database)


async def get_capa(api: httpx.AsyncClient, capa_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
    return response.json() if response.status_code == 200 else {}


async def step(api: httpx.AsyncClient, capa_id: str, path: str, **body: Any) -> dict[str, Any]:
    """One owner command on the version the CAPA is at now."""
    version = (await get_capa(api, capa_id))["capa"]["version"]
    response = await api.post(
        f"/v1/capas/{capa_id}/{path}",
        json={"expected_version": version, "reason": f"step {path}", **body},
        headers=bearer("owner"),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def complete_actions(api: httpx.AsyncClient, capa_id: str) -> None:
    await step(
        api,
        capa_id,
        "root-cause",
        method="five_whys",
        category="process",
        text="Nobody watches the due times of this procedure",
    )
    due_on = (datetime.now(UTC) - CLOCK_BEHIND + timedelta(days=10)).date().isoformat()
    plan = [{"description": "Daily due-time list", "owner_id": "officer-1111", "due_on": due_on}]
    await step(api, capa_id, "action-plan", actions=plan)
    await step(api, capa_id, "actions/A1/completion", evidence=["memo:due-times"])


def history(body: dict[str, Any]) -> list[CloudEvent]:
    return [parse_event(e) for e in body["history"]]


async def test_recurring_late_dossiers_measure_ineffective_and_none_effective(
    api: httpx.AsyncClient,
    kafka_bootstrap: str,
    capa_prefix: str,
    facts: Facts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Late dossiers of both procedures open one CAPA each (the policy, over the broker).
    yesterday = datetime.now(UTC) - CLOCK_BEHIND - timedelta(days=1)
    originals = [
        resolved("D-R1", RECURRING, yesterday, 30),
        resolved("D-Q1", QUIET, yesterday, 30),
    ]
    await produce_raw(kafka_bootstrap, capa_prefix, originals)
    month = resolution_month(yesterday)
    recurring = late_dossier_capa_id(AGENCY, RECURRING, month)
    quiet = late_dossier_capa_id(AGENCY, QUIET, month)
    for capa_id in (recurring, quiet):
        await eventually(lambda capa_id=capa_id: get_capa(api, capa_id))
        await complete_actions(api, capa_id)
    done = {
        capa_id: history(await get_capa(api, capa_id))[-1].time for capa_id in (recurring, quiet)
    }
    assert all(d <= datetime.now(UTC) - CLOCK_BEHIND + timedelta(hours=1) for d in done.values())

    # The window after the actions: late dossiers come back for one procedure only.
    r, q = done[recurring], done[quiet]
    window = [
        resolved("D-R2", RECURRING, r + timedelta(days=3), 26),  # late, in the window
        resolved("D-R3", RECURRING, r + timedelta(days=12), 2),  # late, in the window
        resolved("D-R4", RECURRING, r + timedelta(days=13), -3),  # on time
        resolved("D-R5", RECURRING, r + timedelta(days=45), 9),  # late, after the window
        resolved("D-Q2", QUIET, q + timedelta(days=5), -1),  # on time
        resolved("D-Q3", QUIET, q - timedelta(hours=1), 5),  # late, before the actions
    ]
    events = [parse_event(e) for e in [*originals, *window]]
    for capa_id in (recurring, quiet):
        events += history(await get_capa(api, capa_id))
    facts.insert(events)

    monkeypatch.setenv("QMS_TOPIC_PREFIX", capa_prefix)
    monkeypatch.setenv("CLICKHOUSE_DSN", facts.dsn)
    monkeypatch.setenv("CLICKHOUSE_DATABASE", facts.database)
    monkeypatch.setenv("QMS_EFFECTIVENESS_WINDOW_DAYS", "30")
    monkeypatch.setenv("QMS_EFFECTIVENESS_REOPEN", "true")
    settings = MetricsSettings()
    # Before the window and its grace day have passed, nothing is due.
    assert await run_effectiveness_check(settings, max(done.values()) + timedelta(days=30)) == []
    check_at = datetime.now(UTC)
    sent = await run_effectiveness_check(settings, check_at)
    assert {(c.capa_id, c.value) for c in sent} == {(recurring, 2), (quiet, 0)}

    async def measured(capa_id: str) -> dict[str, Any]:
        body = await get_capa(api, capa_id)
        return body if body and body["capa"]["measurements"] else {}

    flagged = await eventually(lambda: measured(recurring))
    assert flagged["capa"]["status"] == "reopened"
    (measurement,) = flagged["capa"]["measurements"]
    assert measurement["verdict"] == "ineffective_by_measurement"
    assert (measurement["value"], measurement["threshold"]) == (2, 0)
    assert [e["type"] for e in flagged["history"][-2:]] == [MEASURED, "vn.qms.capa.reopened.v1"]
    confirmed = await eventually(lambda: measured(quiet))
    assert confirmed["capa"]["status"] == "actions_completed"
    assert confirmed["capa"]["measurements"][0]["verdict"] == "effective_by_measurement"
    assert confirmed["capa"]["verifications"] == []  # beside the auditor, not instead

    # A second checker (ClickHouse has not seen the measurements yet) sends the same ids.
    again = await run_effectiveness_check(settings, check_at + timedelta(minutes=5))
    assert {c.measurement_id for c in again} == {c.measurement_id for c in sent}
    # A command after it on the same partition is answered once the repeat was decided.
    await step(
        api,
        recurring,
        "root-cause",
        method="fishbone",
        category="resources",
        text="Too few officers",
    )
    for capa_id in (recurring, quiet):
        types = [e["type"] for e in (await get_capa(api, capa_id))["history"]]
        assert types.count(MEASURED) == 1, types

    # The board learns the measurements; the dashboard panel's SQL counts them.
    quiet_body = await get_capa(api, quiet)
    facts.insert(history(await get_capa(api, recurring)) + history(quiet_body))
    assert await run_effectiveness_check(settings, check_at + timedelta(minutes=10)) == []
    store = facts.store()
    try:
        (board,) = store.query_dicts(
            "SELECT measured, effective_by_measurement, ineffective_by_measurement "
            "FROM kpi_capa_agency WHERE agency = {agency:String}",
            {"agency": AGENCY},
        )
        assert board == {
            "measured": 2,
            "effective_by_measurement": 1,
            "ineffective_by_measurement": 1,
        }
        (row,) = store.query_dicts(panel_sql(check_at))
        assert row["agency"] == AGENCY and row["effective_by_measurement"] == 1
        assert row["ineffective_by_measurement"] == 1 and row["verdict_contradicted"] == 0
    finally:
        store.close()


def panel_sql(at: datetime) -> str:
    """The panel's SQL as Grafana sends it for the agency (the shipped dashboard file)."""
    board = json.loads((REPO_ROOT / "deploy/grafana/dashboards/capa-board.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == PANEL]
    variables = {"province": ALL, "agency": [AGENCY], "procedure": ALL}
    return expand(
        panel["targets"][0]["rawSql"],
        start=at - timedelta(days=365),
        end=at,
        variables=variables,
    )
