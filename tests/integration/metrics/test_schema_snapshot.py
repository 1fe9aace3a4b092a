"""deploy/clickhouse/schema.sql is the schema the migrations produce, on real chDB."""

from __future__ import annotations

import uuid

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.migrations import load_migrations
from services.metrics.adapters.schema_snapshot import SCHEMA_FILE, live_schema

pytestmark = pytest.mark.integration


def test_the_snapshot_equals_the_migrated_schema(chdb_dsn: str) -> None:
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    try:
        live = live_schema(store)
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()
    assert SCHEMA_FILE.read_text(encoding="utf-8") == live, "run `qms metrics schema`"


def test_the_snapshot_holds_the_live_schema_and_the_history_keeps_the_dropped() -> None:
    snapshot = SCHEMA_FILE.read_text(encoding="utf-8")
    history = "\n".join(s for m in load_migrations() for s in m.statements)
    for dropped in ("dossier_daily_mv", "dossier_daily"):
        assert f"CREATE MATERIALIZED VIEW IF NOT EXISTS {dropped} " in history or (
            f"CREATE TABLE IF NOT EXISTS {dropped}\n" in history
        )
        assert f" {dropped}\n" not in snapshot and f" {dropped} " not in snapshot
    assert "CREATE TABLE dossier_marks\n" in snapshot
    assert "CREATE VIEW kpi_public_service_score_month\n" in snapshot
