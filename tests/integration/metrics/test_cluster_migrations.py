"""The cluster DDL parses as ClickHouse SQL; migrations run once, under a lock, on real chDB."""

from __future__ import annotations

import uuid

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore, PendingMigrations
from services.metrics.adapters.cluster_ddl import ClusterLayout, database_ddl, render_all
from services.metrics.adapters.migration_lock import MigrationLocked, migration_lock
from services.metrics.adapters.migrations import load_migrations

pytestmark = pytest.mark.integration


def test_every_cluster_statement_is_valid_clickhouse_sql(store: ClickHouseStore) -> None:
    # formatQuery runs ClickHouse's own parser: a misplaced clause or quote fails here,
    # without a Keeper or a second server.
    layout = ClusterLayout("{cluster}", "qms", events_ttl_months=24, facts_ttl_months=60)
    rendered = [database_ddl(layout)]
    rendered += [s for _, statements in render_all(load_migrations(), layout) for s in statements]
    for statement in rendered:
        ((formatted,),) = store.query("SELECT formatQuery({sql:String})", {"sql": statement})
        assert "ON CLUSTER" in formatted or formatted.startswith("INSERT")


def test_a_second_migrator_is_refused_while_the_first_holds_the_lock(
    store: ClickHouseStore,
) -> None:
    with (
        migration_lock(store, "job-a"),
        pytest.raises(MigrationLocked, match="job-a"),
        migration_lock(store, "job-b"),
    ):
        pass
    with migration_lock(store, "job-b"):  # released: the next one runs
        pass


def test_workers_that_do_not_migrate_refuse_a_stale_schema(chdb_dsn: str) -> None:
    fresh = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}")
    try:
        with pytest.raises(PendingMigrations, match="qms migrate"):
            fresh.open(migrate=False)
        fresh.migrate()
        assert fresh.pending() == []
        fresh.close()
        fresh.open(migrate=False)  # up to date: starts
        assert fresh.applied == []
    finally:
        fresh.command(f"DROP DATABASE IF EXISTS {fresh.database}")
        fresh.close()
