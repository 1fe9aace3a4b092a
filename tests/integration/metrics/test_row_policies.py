"""The agency row policies against the real schema and data on chDB.

chDB has no access management (CREATE ROW POLICY is refused there), so the policies are
checked here as far as the engine can: the list covers every table of the migrated schema
that holds agency rows, every view with agency rows reads only such tables, and each
filter is valid SQL that keeps exactly one agency's rows of real data.
"""

from __future__ import annotations

import re

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.row_policies import AGENCY_TABLES, PUBLIC_TABLES, policy_filter
from tests.unit.metrics.scenario import AGENCIES

pytestmark = pytest.mark.integration

AGENCY_COLUMNS = ("agency", "audited_agency")


def _schema(store: ClickHouseStore) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Engines and CREATE statements of the database, and the objects with agency columns."""
    tables = store.query(
        "SELECT name, engine, create_table_query FROM system.tables WHERE database = {db:String}",
        {"db": store.database},
    )
    with_agency = {
        str(t)
        for (t,) in store.query(
            "SELECT DISTINCT table FROM system.columns WHERE database = {db:String} "
            "AND name IN {names:Array(String)}",
            {"db": store.database, "names": list(AGENCY_COLUMNS)},
        )
    }
    return {n: e for n, e, _ in tables}, {n: q for n, _, q in tables}, with_agency


def test_every_table_holding_agency_rows_has_a_policy(loaded: ClickHouseStore) -> None:
    engines, _, with_agency = _schema(loaded)
    stored = {name for name in with_agency if engines[name].endswith("MergeTree")}
    assert stored == {table for table, _ in AGENCY_TABLES} | set(PUBLIC_TABLES)
    for table, column in AGENCY_TABLES:
        (found,) = loaded.query(
            "SELECT count() FROM system.columns WHERE database = {db:String} "
            "AND table = {t:String} AND name = {c:String}",
            {"db": loaded.database, "t": table, "c": column},
        )[0]
        assert found == 1, (table, column)


def test_every_view_with_agency_rows_reads_only_filtered_tables(loaded: ClickHouseStore) -> None:
    engines, creates, with_agency = _schema(loaded)
    # A Null table (a view's way station) holds no row a reader could see.
    nothing_stored = {n for n, engine in engines.items() if engine == "Null"}
    covered = {table for table, _ in AGENCY_TABLES} | set(PUBLIC_TABLES) | nothing_stored
    reads = re.compile(rf"\b(?:FROM|JOIN)\s+{loaded.database}\.(\w+)")

    def base_tables(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if engines[name].endswith("MergeTree") or name in nothing_stored:
            return {name}
        assert name not in seen, f"view cycle at {name}"
        found: set[str] = set()
        for source in reads.findall(creates[name]):
            found |= base_tables(source, seen | {name})
        return found

    views = {n for n in with_agency if engines[n] in {"View", "MaterializedView"}}
    assert views, "no view found: the schema query is wrong"
    for view in views:
        sources = base_tables(view)
        assert sources, view
        unfiltered = {t for t in sources if t not in covered and t in with_agency}
        assert not unfiltered, (view, unfiltered)


@pytest.mark.parametrize("agency", AGENCIES)
def test_each_filter_keeps_exactly_one_agencys_rows(loaded: ClickHouseStore, agency: str) -> None:
    for table, column in AGENCY_TABLES:
        kept, total = loaded.query(
            f"SELECT countIf({policy_filter(column, agency)}), count() FROM {table}"
        )[0]
        expected = loaded.query(
            f"SELECT count() FROM {table} WHERE {column} = {{a:String}}", {"a": agency}
        )[0][0]
        assert kept == expected, table
        if table in {"dossier_events", "dossier_marks", "dossier_mark_counts", "events"}:
            assert 0 < kept < total, table  # the province has every agency's dossiers
