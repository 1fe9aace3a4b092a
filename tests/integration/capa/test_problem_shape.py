"""Intake, CAPA and metrics answer a refusal with the one problem-details shape (RFC 9457).

The same request mistakes sent to each API: no token (401), an object the caller may not
see (404) and a field that cannot be read (422). Each answer is application/problem+json
with the platform's standard members, and the 422 names the field.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app as create_intake
from services.metrics.config import MetricsSettings
from tests.integration.capa.conftest import CapaProcess, bearer
from tests.integration.metrics.conftest import running_service

pytestmark = pytest.mark.integration

STANDARD_MEMBERS = {"type", "title", "status", "detail", "instance", "errors"}
H57_READER = {"Authorization": "Bearer dev-reader-h57-token"}  # sees H57.01 only
H56_PUBLISHER = {"Authorization": "Bearer dev-h56-dossier-token"}


@pytest.fixture
async def intake(
    kafka_bootstrap: str, capa_prefix: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings.model_validate(
        {
            "QMS_ENV": "development",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "QMS_TOPIC_PREFIX": capa_prefix,
            "QMS_DATA_DIR": str(tmp_path),
        }
    )
    app = create_intake(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client,
    ):
        yield client


@pytest.fixture
async def metrics(chdb_dsn: str, clickhouse_database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=clickhouse_database)
    async with running_service(settings, consume=False) as client:
        client.headers.pop("Authorization")
        yield client


async def _once_ready(request: Any) -> httpx.Response:
    """The answer once the service is past start-up (intake's trail index reads the ledger)."""
    for _ in range(120):
        response: httpx.Response = await request()
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.5)
    return response


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= STANDARD_MEMBERS, body
    assert body["status"] == status and body["type"].startswith("/problems/"), body
    assert body["instance"] == response.request.url.path
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    return body


def _names_field(body: dict[str, Any], field: str) -> None:
    assert [e["field"] for e in body["errors"]] == [field], body
    assert all(e["reason"] for e in body["errors"]), body


async def test_the_three_apis_refuse_with_the_same_problem_shape(
    intake: httpx.AsyncClient, metrics: httpx.AsyncClient, capa_service: CapaProcess
) -> None:
    trail = "/v1/audit/trail/H56.01-260302-NOT-YOURS"
    kpis = "/v1/kpi/dossiers/by-agency"
    bad_event = {"specversion": "1.0", "id": "e-1", "source": "urn:x", "subject": "s"}
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=30) as capa:
        unauthenticated = {
            "intake": await intake.get(trail),
            "capa": await capa.get("/v1/capas/CAPA-any"),
            "metrics": await metrics.get(kpis),
        }
        not_yours = {
            "intake": await _once_ready(lambda: intake.get(trail, headers=H57_READER)),
            "capa": await capa.get("/v1/capas/CAPA-no-such", headers=bearer("owner_h57")),
            "metrics": await metrics.get(kpis, params={"agency": "H56.01"}, headers=H57_READER),
        }
        invalid = {
            "intake": await intake.post("/v1/events", json=bad_event, headers=H56_PUBLISHER),
            "capa": await capa.post(
                "/v1/capas/CAPA-any/correction",
                json={"reason": "r", "correction": "c", "expected_version": "1"},
                headers=bearer("owner"),
            ),
            "metrics": await metrics.get(kpis, params={"from": "0000-01"}, headers=H57_READER),
        }
    for api, response in unauthenticated.items():
        _problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer"), api
    for response in not_yours.values():
        _problem(response, 404)
    _names_field(_problem(invalid["intake"], 422), "type")
    _names_field(_problem(invalid["capa"], 422), "body.expected_version")
    _names_field(_problem(invalid["metrics"], 422), "query.from")
    members = {api: set(_problem(r, 401)) for api, r in unauthenticated.items()}
    assert len({frozenset(m) for m in members.values()}) == 1, members
