"""The catalogue's SQL rules give the figures the rules say, on chDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.kpi_catalogue import ON_TIME_SQL, score_columns_sql

pytestmark = pytest.mark.integration

WEIGHTS = {"progress": 30, "online_service": 20, "satisfaction": 20, "transparency": 15,
           "digitisation": 15}  # fmt: skip
# One agency's counts over a period, and the components the score is made of (by hand).
CASES = [
    (dict(received=10, resolved=8, on_time=6, late=2, received_online=5, received_online_l34=4,
          received_online_l4=3, apologies=1, ratings=7, satisfied=6),
     dict(progress=75.0, online_service=30.0, satisfaction=600 / 7, transparency=50.0,
          digitisation=40.0)),
    (dict(received=10, resolved=8, on_time=6, late=2, received_online=5, received_online_l34=2,
          received_online_l4=1, apologies=1, ratings=0, satisfied=0),
     dict(progress=75.0, online_service=10.0, satisfaction=None, transparency=50.0,
          digitisation=20.0)),
    (dict(received=3, resolved=0, on_time=0, late=0, received_online=0, received_online_l34=0,
          received_online_l4=0, apologies=0, ratings=0, satisfied=0),
     dict(progress=None, online_service=0.0, satisfaction=None, transparency=100.0,
          digitisation=0.0)),
    (dict(received=0, resolved=4, on_time=1, late=3, received_online=0, received_online_l34=0,
          received_online_l4=0, apologies=9, ratings=2, satisfied=0),
     dict(progress=25.0, online_service=None, satisfaction=0.0, transparency=100.0,
          digitisation=None)),
    # Online, but at level 2 at most: no full-online service, no digitisation.
    (dict(received=4, resolved=4, on_time=0, late=4, received_online=4, received_online_l34=0,
          received_online_l4=0, apologies=1, ratings=1, satisfied=1),
     dict(progress=0.0, online_service=0.0, satisfaction=100.0, transparency=25.0,
          digitisation=0.0)),
    (dict(received=4, resolved=4, on_time=4, late=0, received_online=4, received_online_l34=4,
          received_online_l4=4, apologies=0, ratings=1, satisfied=0),
     dict(progress=100.0, online_service=100.0, satisfaction=0.0, transparency=100.0,
          digitisation=100.0)),
]  # fmt: skip


def weighted_mean(components: dict[str, float | None]) -> float:
    """The components that can be measured, weighted; a missing one drops out."""
    present = {k: v for k, v in components.items() if v is not None}
    return sum(WEIGHTS[k] * v for k, v in present.items()) / sum(WEIGHTS[k] for k in present)


@pytest.fixture(scope="module")
def store(chdb_dsn: str) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()


@pytest.mark.parametrize(("counts", "components"), CASES)
def test_the_score_sql_gives_the_components_and_their_weighted_mean(
    store: ClickHouseStore, counts: dict[str, int], components: dict[str, float | None]
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
    assert row == pytest.approx({**components, "score": weighted_mean(components)})


def test_on_time_sql_counts_a_resolution_at_the_due_time_as_on_time(store: ClickHouseStore) -> None:
    """As `DossierResolved.on_time`: up to and including the due time, not a millisecond after."""
    rows = store.query(
        f"SELECT {ON_TIME_SQL} FROM (SELECT toDateTime64(t, 3, 'UTC') AS time, "
        "toDateTime64('2026-03-05 10:00:00', 3, 'UTC') AS due_at FROM "
        "(SELECT arrayJoin(['2026-03-05 09:59:59.999', '2026-03-05 10:00:00', "
        "'2026-03-05 10:00:00.001']) AS t)) ORDER BY time"
    )
    assert [bool(r[0]) for r in rows] == [True, True, False]
