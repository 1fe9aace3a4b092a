"""Every Grafana panel's SQL runs on chDB with the macros expanded, returning its columns."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.metrics.adapters.clickhouse import ClickHouseStore
from tests.integration.metrics.grafana_macros import ALL, expand

pytestmark = pytest.mark.integration
GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
ICT = timezone(timedelta(hours=7))
START, END = datetime(2025, 12, 1, tzinfo=ICT), datetime(2026, 6, 1, tzinfo=ICT)
SCOPES: dict[str, dict[str, list[str] | None]] = {
    "all": {"province": ALL, "agency": ALL, "procedure": ALL},
    "one agency": {"province": ["H56"], "agency": ["H56.01"], "procedure": ALL},
    "one procedure": {"province": ALL, "agency": ALL, "procedure": ["1.001612.000.00.00.H56"]},
}
# Panels whose figures the demo data must fill when nothing is filtered out.
MUST_HAVE_ROWS = {
    "Dossiers received",
    "Dossiers per day",
    "Per agency",
    "Per procedure",
    "Satisfaction per month",
    "Open CAPAs",
    "Findings by classification and clause",
    "Audits and inspections per month",
    "Public-service score per month",
}


def dashboards() -> list[tuple[str, dict[str, Any]]]:
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert len(files) == 5
    return [(f.name, json.loads(f.read_text(encoding="utf-8"))) for f in files]


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{name}: {p['title']}", p) for name, board in dashboards() for p in board["panels"]]


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize(("title", "panel"), panels(), ids=[t for t, _ in panels()])
def test_panel_sql_runs_and_returns_its_columns(
    loaded: ClickHouseStore, title: str, panel: dict[str, Any], scope: str
) -> None:
    (target,) = panel["targets"]
    assert target["datasource"]["uid"] == "qms-clickhouse"
    sql = expand(
        target["rawSql"], start=START, end=END, variables=SCOPES[scope], interval_s=7 * 86_400
    )
    result = loaded.query_dicts(sql)
    columns = list(result[0]) if result else _columns(loaded, sql)
    assert columns == target["qmsColumns"], title
    if scope == "all" and panel["title"] in MUST_HAVE_ROWS:
        assert result, f"{title}: no rows over the demo data"
    if target["queryType"] == "timeseries" and result:
        assert isinstance(result[0][columns[0]], datetime), f"{title}: first column not a time"


def _columns(store: ClickHouseStore, sql: str) -> list[str]:
    return [str(r[0]) for r in store.query(f"DESCRIBE ({sql})")]


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_template_variables_resolve(loaded: ClickHouseStore, scope: str) -> None:
    for _, board in dashboards():
        for variable in board["templating"]["list"]:
            sql = expand(variable["query"], start=START, end=END, variables=SCOPES[scope])
            values = [r[0] for r in loaded.query(sql)]
            assert values, variable["name"]
    province = next(v for v in dashboards()[0][1]["templating"]["list"] if v["name"] == "province")
    assert [
        r[0]
        for r in loaded.query(
            expand(province["query"], start=START, end=END, variables=SCOPES["all"])
        )
    ] == ["H56"]


def test_provisioning_points_at_the_dashboards_and_a_clickhouse_source() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text())
    (ds,) = source["datasources"]
    assert ds["type"] == "grafana-clickhouse-datasource" and ds["uid"] == "qms-clickhouse"
    assert {"host", "port", "protocol", "username", "defaultDatabase"} <= set(ds["jsonData"])
    assert "password" in ds["secureJsonData"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/qms.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    uids = [board["uid"] for _, board in dashboards()]
    assert len(set(uids)) == len(uids)
