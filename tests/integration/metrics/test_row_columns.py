"""Each row type is its table as the migrations leave it: same columns, same order, same nulls."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.rows import TABLE_ROWS

pytestmark = pytest.mark.integration


@pytest.fixture
def store(chdb_dsn: str, clickhouse_database: str) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore(chdb_dsn, clickhouse_database).open()
    try:
        yield store
    finally:
        store.reset()


def _optional(annotation: Any) -> bool:
    return get_origin(annotation) in {Union, types.UnionType} and type(None) in get_args(annotation)


@pytest.mark.parametrize("table", sorted(TABLE_ROWS))
def test_row_fields_are_the_columns_the_consumer_writes(store: ClickHouseStore, table: str) -> None:
    described = store.query_dicts(f"DESCRIBE TABLE `{table}`")
    # Columns with a DEFAULT (ingested_at) are the store's to fill, never the consumer's.
    written = [c for c in described if not c["default_type"]]
    row_type = TABLE_ROWS[table]
    hints = get_type_hints(row_type)
    assert [c["name"] for c in written] == list(row_type._fields)  # type: ignore[attr-defined]
    nullable = {c["name"]: c["type"].startswith("Nullable(") for c in written}
    assert {name: _optional(hints[name]) for name in nullable} == nullable
