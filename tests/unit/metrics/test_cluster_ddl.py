"""The migrations rendered for a replicated, sharded cluster say what such a cluster needs."""

from __future__ import annotations

import re

import pytest

from services.metrics.adapters.cluster_ddl import (
    FACT_TABLES,
    LOCAL_SUFFIX,
    SHARD_ONLY_TABLES,
    ClusterLayout,
    render_all,
    render_statement,
)
from services.metrics.adapters.migrations import load_migrations

pytestmark = pytest.mark.unit

LAYOUT = ClusterLayout("qms_cluster", "qms", events_ttl_months=24, facts_ttl_months=120)


def statements(layout: ClusterLayout = LAYOUT) -> list[str]:
    return [s for _, rendered in render_all(load_migrations(), layout) for s in rendered]


def created_tables(rendered: list[str]) -> dict[str, str]:
    tables: dict[str, str] = {}
    for statement in rendered:
        if match := re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ", statement):
            tables[match[1]] = statement
    return tables


def test_every_ddl_statement_runs_on_the_cluster() -> None:
    for statement in statements():
        if statement.startswith("INSERT"):
            continue  # through the Distributed tables, on one node
        assert "ON CLUSTER 'qms_cluster'" in statement, statement.splitlines()[0]


def test_every_merge_tree_is_replicated_with_its_own_path_and_the_replica_macro() -> None:
    rendered = statements()
    unreplicated = [s for s in rendered if re.search(r"ENGINE = (?!Replicated|Distributed)", s)]
    assert [s.split()[5] for s in unreplicated] == [
        n + LOCAL_SUFFIX for n in sorted(SHARD_ONLY_TABLES)
    ]  # each `ENGINE = Null`: stores nothing to replicate
    paths = []
    for name, ddl in created_tables(rendered).items():
        if not name.endswith(LOCAL_SUFFIX) or name.removesuffix(LOCAL_SUFFIX) in SHARD_ONLY_TABLES:
            continue
        engine = re.search(r"ENGINE = Replicated\w*MergeTree\('([^']+)', '\{replica\}'", ddl)
        assert engine is not None, name
        assert engine[1] == f"/clickhouse/tables/{{shard}}/qms/{name}"
        assert "non_replicated_deduplication_window" not in ddl
        assert "replicated_deduplication_window = 1000" in ddl, name
        paths.append(engine[1])
    assert len(paths) == len(set(paths)) >= 9


def test_every_distributed_table_names_an_existing_local_table_and_a_sharding_key() -> None:
    tables = created_tables(statements())
    distributed = {n: ddl for n, ddl in tables.items() if "ENGINE = Distributed(" in ddl}
    shard_only = {n + LOCAL_SUFFIX for n in SHARD_ONLY_TABLES}
    assert {n + LOCAL_SUFFIX for n in distributed} == {
        n for n in tables if n.endswith("_local") and n not in shard_only
    }
    for name, ddl in distributed.items():
        match = re.search(r"Distributed\('qms_cluster', 'qms', '(\w+)', (.+)\)$", ddl)
        assert match is not None, ddl
        assert match[1] == name + LOCAL_SUFFIX and match[1] in tables
        assert match[2].startswith("cityHash64("), name


def test_every_row_of_a_dossier_lands_on_one_shard() -> None:
    tables = created_tables(statements())
    for name in ("dossier_events", "dossier_marks", "dossier_mark_index"):
        assert tables[name].endswith("cityHash64(dossier))"), name
    # Raw events shard by subject: the dossier code for a dossier's events.
    assert tables["events"].endswith("cityHash64(subject))")


def test_materialized_views_read_and_write_the_shard_local_tables() -> None:
    views = [s for s in statements() if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views
    for view in views:
        assert re.search(r"TO \w+_local AS", view), view.splitlines()[0]
        assert re.search(r"FROM \w+_local\b", view), view.splitlines()[0]


def test_a_table_that_stores_nothing_is_one_per_shard_without_a_distributed_table() -> None:
    tables = created_tables(statements())
    for name in SHARD_ONLY_TABLES:
        assert name not in tables
        assert tables[name + LOCAL_SUFFIX].rstrip().endswith("ENGINE = Null"), name
    with pytest.raises(ValueError, match="stores nothing"):
        render_statement(
            "CREATE TABLE IF NOT EXISTS dossier_mark_changes (x UInt8) ENGINE = MergeTree "
            "ORDER BY x",
            LAYOUT,
        )


def test_big_tables_are_partitioned_by_month_and_expire_as_asked() -> None:
    tables = created_tables(statements())
    for name in ("events", *FACT_TABLES):
        ddl = tables[name + LOCAL_SUFFIX]
        assert "PARTITION BY toYYYYMM(time)" in ddl, name
        months = 24 if name == "events" else 120
        assert f"TTL toDateTime(time) + INTERVAL {months} MONTH DELETE" in ddl, name
    kept = created_tables(statements(ClusterLayout("c", "qms")))
    assert not [n for n, ddl in kept.items() if " TTL " in ddl or "\nTTL " in ddl]


def test_dropping_a_table_drops_its_local_and_distributed_halves() -> None:
    assert render_statement("DROP TABLE IF EXISTS dossier_daily", LAYOUT) == [
        "DROP TABLE IF EXISTS dossier_daily ON CLUSTER 'qms_cluster' SYNC",
        "DROP TABLE IF EXISTS dossier_daily_local ON CLUSTER 'qms_cluster' SYNC",
    ]


def test_dropping_a_materialized_view_drops_the_shards_view() -> None:
    assert render_statement("DROP VIEW IF EXISTS dossier_marks_mv", LAYOUT) == [
        "DROP VIEW IF EXISTS dossier_marks_mv ON CLUSTER 'qms_cluster' SYNC",
        "DROP VIEW IF EXISTS dossier_marks_mv_local ON CLUSTER 'qms_cluster' SYNC",
    ]


def test_a_changed_column_type_changes_on_the_local_and_distributed_tables() -> None:
    change = "MODIFY COLUMN measure Enum8('received' = 1, 'resolved' = 2)"
    assert render_statement(f"ALTER TABLE dossier_marks {change}", LAYOUT) == [
        f"ALTER TABLE dossier_marks_local ON CLUSTER 'qms_cluster' {change}",
        f"ALTER TABLE dossier_marks ON CLUSTER 'qms_cluster' {change}",
    ]


def test_an_added_column_is_added_on_the_local_and_distributed_tables() -> None:
    change = "ADD COLUMN IF NOT EXISTS x Nullable(Int16) AFTER received_time"
    assert render_statement(f"ALTER TABLE events {change}", LAYOUT) == [
        f"ALTER TABLE events_local ON CLUSTER 'qms_cluster' {change}",
        f"ALTER TABLE events ON CLUSTER 'qms_cluster' {change}",
    ]


def test_a_statement_without_a_cluster_rendering_is_refused() -> None:
    with pytest.raises(ValueError, match="no cluster rendering"):
        render_statement("ALTER TABLE events DROP COLUMN x", LAYOUT)
    with pytest.raises(ValueError, match="no sharding key"):
        render_statement(
            "CREATE TABLE IF NOT EXISTS brand_new (a String) ENGINE = MergeTree ORDER BY a", LAYOUT
        )
