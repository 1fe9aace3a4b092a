"""Every Grafana panel's SQL runs on chDB with the macros expanded, returning its columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.envelope import CloudEvent
from services.common.deadletter import RecordPosition
from services.intake.ledger.domain.note import Checkpoint, origin_for, sign_checkpoint
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.rows import Batch
from services.metrics.domain.tokens import batch_token
from tests.integration.metrics.grafana_macros import ALL, expand
from tests.unit.ledger.builders import new_signer
from tests.unit.metrics import factories as f
from tests.unit.metrics.scenario import (
    document_control,
    dossier_province,
    other_families,
    process_sheets,
)

pytestmark = pytest.mark.integration
GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
ICT = timezone(timedelta(hours=7))
START, END = datetime(2025, 12, 1, tzinfo=ICT), datetime(2026, 6, 1, tzinfo=ICT)
SCOPES: dict[str, dict[str, list[str] | None]] = {
    "all": {"province": ALL, "agency": ALL, "procedure": ALL},
    "one agency": {"province": ["H56"], "agency": ["H56.01"], "procedure": ALL},
    "one procedure": {"province": ALL, "agency": ALL, "procedure": ["1.001612.000.00.00.H56"]},
}
# Every panel must show data over the test data with nothing filtered out: at least one
# row with a figure that is neither NULL nor zero. A panel that cannot is listed with why.
NO_DATA_EXPECTED: dict[str, str] = {}
# Panels that select by the time of ingestion (the test's own clock), not of the event.
INGESTION_TIME = {"Checkpoints received"}


@pytest.fixture(scope="module")
def province() -> list[CloudEvent]:
    """The metrics scenario, with the intake receipt time the audit-trail panels read, and
    the register listing its procedure from February (January's dossiers were received
    under a procedure not yet in force, the later ones have a statutory due time)."""
    register = f.procedure_version(
        "1.001612.000.00.00.H56", 1, datetime(2025, 12, 1, tzinfo=UTC), "2026-02-01", 15
    )
    events = [register, *dossier_province(seed=11, dossiers=400), *other_families(seed=11)]
    events += process_sheets(events)
    events += document_control()
    return [
        e.model_copy(update={"receivedtime": e.time + timedelta(seconds=1 + n % 7)})
        for n, e in enumerate(events)
    ]


@pytest.fixture(scope="module")
def store(loaded: ClickHouseStore) -> ClickHouseStore:
    """The loaded scenario and two signed ledger checkpoints of one partition's chain."""
    signer = new_signer()
    origin = origin_for("qms.", "qms.dossier.v1", 0)
    batch = Batch()
    for offset, size in enumerate((40, 97)):
        note = sign_checkpoint(Checkpoint(origin, size, bytes(32)), signer)
        batch.add(RecordPosition("qms.ledger.checkpoints.v1", 0, offset), None, note.encode())
    loaded.insert_batch(batch.rows, batch_token(batch.positions))
    return loaded


def has_figures(rows: list[dict[str, Any]]) -> bool:
    return any(value not in (None, 0, "") for row in rows for value in row.values())


def dashboards() -> list[tuple[str, dict[str, Any]]]:
    """The compliance dashboards, on ClickHouse (platform-health reads Prometheus:
    tests/unit/observability/test_monitoring_files.py checks it)."""
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    boards = [(f.name, json.loads(f.read_text(encoding="utf-8"))) for f in files]
    on_clickhouse = [
        (name, board)
        for name, board in boards
        if all(p["datasource"]["type"] == "grafana-clickhouse-datasource" for p in board["panels"])
    ]
    assert len(on_clickhouse) == 5 and len(boards) == 6
    return on_clickhouse


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{name}: {p['title']}", p) for name, board in dashboards() for p in board["panels"]]


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize(("title", "panel"), panels(), ids=[t for t, _ in panels()])
def test_panel_sql_runs_and_returns_its_columns(
    store: ClickHouseStore, title: str, panel: dict[str, Any], scope: str
) -> None:
    (target,) = panel["targets"]
    assert target["datasource"]["uid"] == "qms-clickhouse"
    end = datetime.now(UTC) + timedelta(days=1) if panel["title"] in INGESTION_TIME else END
    sql = expand(
        target["rawSql"], start=START, end=end, variables=SCOPES[scope], interval_s=7 * 86_400
    )
    result = store.query_dicts(sql)
    columns = list(result[0]) if result else _columns(store, sql)
    assert columns == target["qmsColumns"], title
    if scope == "all" and panel["title"] not in NO_DATA_EXPECTED:
        assert has_figures(result), f"{title}: no figure over the test data ({result[:3]})"
    if target["queryType"] == "timeseries" and result:
        assert isinstance(result[0][columns[0]], datetime), f"{title}: first column not a time"


def _columns(store: ClickHouseStore, sql: str) -> list[str]:
    return [str(r[0]) for r in store.query(f"DESCRIBE ({sql})")]


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_template_variables_resolve(store: ClickHouseStore, scope: str) -> None:
    for _, board in dashboards():
        for variable in board["templating"]["list"]:
            sql = expand(variable["query"], start=START, end=END, variables=SCOPES[scope])
            values = [r[0] for r in store.query(sql)]
            assert values, variable["name"]
    province = next(v for v in dashboards()[0][1]["templating"]["list"] if v["name"] == "province")
    assert [
        r[0]
        for r in store.query(
            expand(province["query"], start=START, end=END, variables=SCOPES["all"])
        )
    ] == ["H56"]


def test_provisioning_points_at_the_dashboards_and_a_clickhouse_source() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text())
    assert all(d["type"] == "grafana-clickhouse-datasource" for d in source["datasources"])
    ds = next(d for d in source["datasources"] if d["uid"] == "qms-clickhouse")
    assert ds["type"] == "grafana-clickhouse-datasource" and ds["uid"] == "qms-clickhouse"
    assert {"host", "port", "protocol", "username", "defaultDatabase"} <= set(ds["jsonData"])
    assert "password" in ds["secureJsonData"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/qms.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    uids = [board["uid"] for _, board in dashboards()]
    assert len(set(uids)) == len(uids)


def test_the_capa_board_shows_what_the_read_api_answers(store: ClickHouseStore) -> None:
    board = dict(dashboards())["capa-board.json"]
    api = kpi_queries.capa_by_agency(store, datetime.now(UTC))  # the panels' now64()
    for title, column in (("Backlog", "backlog"), ("Overdue", "overdue")):
        (target,) = next(p for p in board["panels"] if p["title"] == title)["targets"]
        sql = expand(target["rawSql"], start=START, end=END, variables=SCOPES["all"])
        ((shown,),) = store.query(sql)
        assert shown == sum(r[column] for r in api) > 0, title
