"""Attacks on the metrics read API: who may read, which agencies, which parameters (chDB).

Each test is an attacker's request, the refusal it must get, and the victims' rows as a
national reader still sees them (intact) while the attacker never does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.envelope import CloudEvent
from services.common.credentials import hash_token
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from tests.integration.metrics.conftest import running_service
from tests.unit.metrics import factories as f
from tests.unit.metrics.scenario import (
    AGENCIES,
    document_control,
    dossier_province,
    other_families,
    process_sheets,
)

pytestmark = pytest.mark.integration

# Every route that returns agency data, with the parameters it needs.
# The figures at an instant read at one instant for every caller (the default is "now").
AT = {"at": datetime.now(UTC).isoformat()}
AGENCY_ROUTES: dict[str, dict[str, str]] = {
    "/v1/kpi/dossiers/by-agency": {},
    "/v1/kpi/dossiers/by-agency-month": {},
    "/v1/kpi/dossiers/by-procedure": {},
    "/v1/kpi/dossiers/in-progress": AT,
    "/v1/kpi/complaints/by-agency": {},
    "/v1/kpi/complaints/by-agency-month": {},
    "/v1/kpi/satisfaction/by-agency": {},
    "/v1/kpi/satisfaction/by-agency-month": {},
    "/v1/kpi/audits/by-agency": {},
    "/v1/kpi/capa/by-agency": AT,
    "/v1/kpi/objectives": {},
    "/v1/kpi/objectives/evaluations": {},
    "/v1/kpi/public-service-score/by-agency-month": {},
    "/v1/kpi/public-service-score/by-agency": {"period": "2026-Q1"},
    "/v1/kpi/update-timeliness/by-agency": {},
    "/v1/kpi/update-timeliness/by-agency-month": {},
    "/v1/kpi/steps/by-unit": {},
    "/v1/kpi/steps/by-procedure-step": {},
    "/v1/kpi/steps/by-unit-month": {},
    "/v1/kpi/time-lost/by-unit": {},
    "/v1/kpi/time-lost/by-procedure-step": {},
    "/v1/kpi/documents/by-agency": {},
    "/v1/kpi/documents/by-agency-month": {},
    "/v1/kpi/process-documents/overdue": AT,
    "/v1/kpi/procedures/not-in-force/by-agency-month": {},
    "/v1/kpi/statutory-due/by-agency-month": {},
    "/v1/kpi/on-time-statutory/by-agency-month": {},
}
EMPTY_IN_PROVINCE = {"/v1/kpi/objectives/evaluations"}  # the scenario reports none
UNSCOPED_ROUTES = ("/v1/stats", "/v1/kpi/audits/coverage")
OPEN_ROUTES = ("/healthz", "/openapi.json", "/docs")

# The attacker reads for H56.02 only; H56.01 and H56.03 are the victims.
USERS = {
    "national": ("*",),
    "attacker": ("H56.02",),
    "underscore": ("H5_.0*",),  # `_` is a literal in a scope, never LIKE's any-character
    "wildcard": ("H56.0?",),
}
VICTIMS = {"H56.01", "H56.03"}
PROCEDURE = "1.001612.000.00.00.H56"  # the scenario's procedure


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-of-{user}"}


@pytest.fixture(scope="module")
def province() -> list[CloudEvent]:
    """The shared province, each event recorded through intake an hour after it happened
    (`receivedtime`), so that the timeliness routes have every agency's rows; the register
    lists the province's procedure from February, so January's dossiers are received under
    a procedure not yet in force and the later ones have a statutory due time."""
    register = f.procedure_version(
        PROCEDURE, 1, datetime(2025, 12, 1, tzinfo=UTC), "2026-02-01", 15
    )
    events = [register, *dossier_province(seed=11, dossiers=400), *other_families(seed=11)]
    events += process_sheets(events)
    events += document_control()
    return [e.model_copy(update={"receivedtime": e.time + timedelta(hours=1)}) for e in events]


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    lines = ["users:"]
    for user, agencies in USERS.items():
        lines += [
            f"  - user_id: reader-{user}",
            "    role: viewer",
            f"    agencies: {list(agencies)}",
            f"    token_sha256: {hash_token(f'token-of-{user}')}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
async def api(
    loaded: ClickHouseStore, chdb_dsn: str, users_file: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = MetricsSettings(
        clickhouse_dsn=chdb_dsn, clickhouse_database=loaded.database, users_file=users_file
    )
    async with running_service(settings, consume=False) as client:
        client.headers.pop("Authorization")  # each request below says who it is
        yield client


def _agencies(body: dict[str, Any]) -> set[str]:
    return {row["agency"] for row in body["rows"]}


async def test_without_a_valid_token_every_agency_route_is_401_and_the_open_ones_answer(
    api: httpx.AsyncClient,
) -> None:
    for path, params in {**AGENCY_ROUTES, **{route: {} for route in UNSCOPED_ROUTES}}.items():
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
            response = await api.get(path, params=params, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "rows" not in response.json() and "events" not in response.json()
    for path in OPEN_ROUTES:
        assert (await api.get(path)).status_code == 200, path


async def test_a_scoped_reader_sees_only_its_own_agencies_rows(api: httpx.AsyncClient) -> None:
    for path, params in AGENCY_ROUTES.items():
        national = (await api.get(path, params=params, headers=_bearer("national"))).json()
        attacker = (await api.get(path, params=params, headers=_bearer("attacker"))).json()
        if path in EMPTY_IN_PROVINCE:
            assert national["rows"] == attacker["rows"] == [], path
            continue
        # The victims' rows are there for those who may see them …
        assert _agencies(national) >= VICTIMS, path
        # … and never in the attacker's answer, whose own rows are the national ones.
        assert _agencies(attacker) == {"H56.02"}, path
        assert attacker["rows"] == [r for r in national["rows"] if r["agency"] == "H56.02"], path


async def test_naming_another_agency_is_404_like_an_agency_without_data(
    api: httpx.AsyncClient,
) -> None:
    for path, params in AGENCY_ROUTES.items():
        for victim in sorted(VICTIMS):
            response = await api.get(
                path, params={**params, "agency": victim}, headers=_bearer("attacker")
            )
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert victim in response.json()["detail"] and "rows" not in response.json()
        own = await api.get(
            path, params={**params, "agency": "H56.02"}, headers=_bearer("attacker")
        )
        assert own.status_code == 200, path
        assert _agencies(own.json()) == (set() if path in EMPTY_IN_PROVINCE else {"H56.02"})


async def test_platform_wide_counters_are_for_national_readers_and_coverage_is_scoped(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.get("/v1/stats", headers=_bearer("attacker"))).status_code == 404
    stats = (await api.get("/v1/stats", headers=_bearer("national"))).json()
    assert stats["events"] > 0
    national = (await api.get("/v1/kpi/audits/coverage", headers=_bearer("national"))).json()
    attacker = (await api.get("/v1/kpi/audits/coverage", headers=_bearer("attacker"))).json()
    assert national["agencies"] == len(AGENCIES) and attacker["agencies"] == 1
    assert attacker["inspections"] < national["inspections"]


async def test_scope_patterns_match_as_globs_not_as_sql_like(api: httpx.AsyncClient) -> None:
    path = "/v1/kpi/dossiers/by-agency"
    assert (await api.get(path, headers=_bearer("underscore"))).json()["rows"] == []
    assert _agencies((await api.get(path, headers=_bearer("wildcard"))).json()) == set(AGENCIES)


@pytest.mark.parametrize(
    "agency", ["H56.01' OR '1'='1", "H56.%", "h56.01", "../../x", "H56.01\n", ""]
)
async def test_an_agency_parameter_that_is_no_agency_code_is_422_naming_it(
    api: httpx.AsyncClient, agency: str
) -> None:
    response = await api.get(
        "/v1/kpi/dossiers/by-agency", params={"agency": agency}, headers=_bearer("national")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["query.agency"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/kpi/dossiers/by-agency", {"from": "0000-01"}, "query.from"),
        ("/v1/kpi/dossiers/by-agency", {"to": "9999-12"}, "query.to"),
        ("/v1/kpi/complaints/by-agency", {"from": "1969-12"}, "query.from"),
        ("/v1/kpi/public-service-score/by-agency", {"period": "0000"}, "query.period"),
        ("/v1/kpi/public-service-score/by-agency", {"period": "9999-Q4"}, "query.period"),
        ("/v1/kpi/objectives", {"period": "0000"}, "query.period"),
        ("/v1/kpi/objectives/evaluations", {"period": "9999-12"}, "query.period"),
        ("/v1/kpi/dossiers/in-progress", {"at": "0999-12-31T00:00:00Z"}, "query.at"),
        ("/v1/kpi/dossiers/in-progress", {"at": "9999-12-31T23:59:59-07:00"}, "query.at"),
        ("/v1/kpi/dossiers/in-progress", {"at": "2026-01-01T00:00:00"}, "query.at"),
        ("/v1/kpi/process-documents/overdue", {"at": "2026-01-01T00:00:00"}, "query.at"),
        ("/v1/kpi/process-documents/overdue", {"known": "later"}, "query.known"),
        ("/v1/kpi/documents/by-agency-month", {"from": "0000-01"}, "query.from"),
    ],
)
async def test_edges_of_the_calendar_are_422_naming_the_parameter(
    api: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    response = await api.get(path, params=params, headers=_bearer("national"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == 422
    assert [e["field"] for e in body["errors"]] == [field]


def test_a_report_on_another_agency_is_refused_and_nothing_is_written(
    loaded: ClickHouseStore, chdb_dsn: str, users_file: Path, tmp_path: Path
) -> None:
    from services.metrics.entrypoints.report_cli import ReportError, write_report

    settings = MetricsSettings(
        clickhouse_dsn=chdb_dsn, clickhouse_database=loaded.database, users_file=users_file
    )
    stolen = tmp_path / "stolen.html"
    with pytest.raises(ReportError, match=r"404 no data for agency 'H56\.01'"):
        write_report(settings, "H56.01", "2026-Q1", stolen, None, token="token-of-attacker")
    assert not stolen.exists()
    with pytest.raises(ReportError, match="401"):
        write_report(settings, "H56.01", "2026-Q1", stolen, None, token="not-a-token")
    assert not stolen.exists()
    own = write_report(
        settings, "H56.02", "2026-Q1", tmp_path / "own.html", None, "token-of-attacker"
    )
    assert "H56.02" in own.read_text(encoding="utf-8")
