"""The catalogue's SQL and Python forms of each rule give the same figures, on chDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.kpi_catalogue import ON_TIME_SQL, score_columns_sql
from services.metrics.domain.kpis import public_service_score, score_components

pytestmark = pytest.mark.integration

CASES = [
    dict(received=10, resolved=8, on_time=6, late=2, received_online=5, received_online_l34=4,
         received_online_l4=3, apologies=1, ratings=7, satisfied=6),
    dict(received=3, resolved=0, on_time=0, late=0, received_online=0, received_online_l34=0,
         received_online_l4=0, apologies=0, ratings=0, satisfied=0),
    dict(received=0, resolved=4, on_time=1, late=3, received_online=0, received_online_l34=0,
         received_online_l4=0, apologies=9, ratings=2, satisfied=0),
]  # fmt: skip


@pytest.fixture(scope="module")
def store(chdb_dsn: str) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()


@pytest.mark.parametrize("counts", CASES)
def test_the_score_sql_equals_the_python_score(
    store: ClickHouseStore, counts: dict[str, int]
) -> None:
    dossiers = ", ".join(
        f"{v} AS {k}" for k, v in counts.items() if k not in ("ratings", "satisfied")
    )
    ratings, satisfied = counts["ratings"], counts["satisfied"]
    rate = f"100.0 * {satisfied} / {ratings}" if ratings else "NULL"
    (row,) = store.query_dicts(
        f"SELECT {score_columns_sql()} FROM (SELECT {dossiers}) AS d, "
        f"(SELECT {ratings} AS ratings, {rate} AS satisfaction_rate) AS s"
    )
    components = score_components(**counts)
    assert row == {**components, "score": public_service_score(components)}


def test_on_time_sql_counts_a_resolution_at_the_due_time_as_on_time(store: ClickHouseStore) -> None:
    """As `DossierResolved.on_time`: up to and including the due time, not a millisecond after."""
    rows = store.query(
        f"SELECT {ON_TIME_SQL} FROM (SELECT toDateTime64(t, 3, 'UTC') AS time, "
        "toDateTime64('2026-03-05 10:00:00', 3, 'UTC') AS due_at FROM "
        "(SELECT arrayJoin(['2026-03-05 09:59:59.999', '2026-03-05 10:00:00', "
        "'2026-03-05 10:00:00.001']) AS t)) ORDER BY time"
    )
    assert [bool(r[0]) for r in rows] == [True, True, False]
