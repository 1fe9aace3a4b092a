"""The summing dossier counts (deploy/clickhouse/0019_dossier_mark_counts.sql) answer what
the marks under FINAL answer, in every state of their parts: redeliveries, a province
inserted twice in other batches and order, facts of one dossier in one insert or spread
over the blocks of one, a mark moving to an earlier day, and a store migrated from 0018."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app as qms
from services.metrics.adapters import kpi_queries, mark_counts
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.periods import DayRange
from tests.integration.metrics.conftest import insert_events, store_of_earlier_schema
from tests.unit.metrics import factories as f
from tests.unit.metrics.scenario import dossier_province

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))
AGENCY = "H56.01"

# Both sides per (agency, procedure, measure, day): the marks deduplicated at read time and
# the sums deduplicated when stored. Groups summing to 0 are marks that moved to another day.
BY_MARKS = (
    "SELECT agency, procedure, toString(measure), day, count() FROM dossier_marks_final "
    "GROUP BY ALL ORDER BY ALL"
)
BY_COUNTS = (
    "SELECT agency, procedure, toString(measure), day, sum(marks) FROM dossier_mark_counts "
    "GROUP BY ALL HAVING sum(marks) != 0 ORDER BY ALL"
)


def day(month: int, d: int, hour: int = 9) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=ICT)


def both(store: ClickHouseStore) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    return store.query(BY_MARKS), store.query(BY_COUNTS)


def test_a_province_inserted_twice_in_other_batches_counts_each_mark_once(
    store: ClickHouseStore,
) -> None:
    province = dossier_province(seed=5, dossiers=300)
    insert_events(store, province, batch=97)
    shuffled = list(province)
    random.Random(8).shuffle(shuffled)
    insert_events(store, shuffled, batch=250)  # every fact again, cut differently
    marks, counts = both(store)
    assert len(marks) > 300
    assert counts == marks
    store.command("OPTIMIZE TABLE dossier_mark_counts FINAL")
    store.command("OPTIMIZE TABLE dossier_marks FINAL")
    assert both(store)[1] == marks


def test_a_mark_moved_to_an_earlier_day_leaves_the_later_one(store: ClickHouseStore) -> None:
    due = day(3, 30, 17)
    # Received on the 10th, then a second reception of the same dossier earlier in the
    # month, then one later, each its own insert: the dossier counts once in March, on the
    # 3rd; and again in April.
    insert_events(
        store,
        [
            f.received("A", AGENCY, day(3, 10), due),
            f.received("A", AGENCY, day(3, 3), due),
            f.received("A", AGENCY, day(3, 20), due),
            f.received("A", AGENCY, day(4, 2), day(4, 20, 17)),
        ],
        batch=1,
    )
    marks, counts = both(store)
    assert counts == marks
    received = [(str(d), n) for _, _, m, d, n in counts if m == "received"]
    assert received == [("2026-03-03", 1), ("2026-04-02", 1)]
    # The month views have no row for the emptied day's month twice, nor a zero row.
    rows = kpi_queries.dossiers_by(store, DayRange(), ("agency", "month"))
    assert [(r["month"], r["received"]) for r in rows] == [("2026-03", 1), ("2026-04", 1)]


def test_the_facts_of_one_dossier_across_the_blocks_of_one_insert(store: ClickHouseStore) -> None:
    """Each block of an insert looks up the marks the blocks before it stored."""
    province = dossier_province(seed=9, dossiers=60)
    insert_events(store, province[: len(province) // 2], batch=1000)
    store.command("CREATE TABLE staged AS dossier_events ENGINE = MergeTree ORDER BY tuple()")
    insert_events(store, province, batch=1000)  # facts of staged rows come from here
    store.command("INSERT INTO staged SELECT * FROM dossier_events")
    store.command(
        "INSERT INTO dossier_events SELECT * FROM staged ORDER BY rand() "
        "SETTINGS max_block_size = 7, max_insert_block_size = 7, "
        "min_insert_block_size_rows = 0, min_insert_block_size_bytes = 0"
    )
    marks, counts = both(store)
    assert counts == marks


def test_the_counts_equal_the_marks_while_parts_are_unmerged_and_after(
    store: ClickHouseStore,
) -> None:
    province = dossier_province(seed=13, dossiers=200)
    store.command("SYSTEM STOP MERGES dossier_mark_counts")
    store.command("SYSTEM STOP MERGES dossier_marks")
    for batch in (13, 41, 200):
        shuffled = list(province)
        random.Random(batch).shuffle(shuffled)
        insert_events(store, shuffled, batch=batch)
        marks, counts = both(store)
        assert counts == marks
    parts = store.query(
        "SELECT count() FROM system.parts WHERE database = currentDatabase() "
        "AND table = 'dossier_mark_counts' AND active"
    )[0][0]
    assert parts > 12  # the comparison ran over many unmerged parts
    store.command("SYSTEM START MERGES dossier_mark_counts")
    store.command("OPTIMIZE TABLE dossier_mark_counts FINAL")
    assert both(store)[1] == marks


def test_a_store_of_0018_is_backfilled(
    chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store_of_earlier_schema(chdb_dsn, tmp_path, monkeypatch, 18) as store:
        assert store.applied[-1] == "0018_process_revision_judged_past_the_stream"
        province = dossier_province(seed=21, dossiers=150)
        insert_events(store, province, batch=50)
        insert_events(store, province[::3], batch=20)
        month_view = "SELECT * FROM kpi_dossiers_agency_procedure_month ORDER BY ALL"
        before = store.query(month_view)  # over dossier_marks_final
        assert store.migrate() == ["0019_dossier_mark_counts"]
        marks, counts = both(store)
        assert counts == marks
        assert store.query(month_view) == before  # over dossier_mark_counts
        # and from now on through the view
        insert_events(store, province[1::2], batch=33)
        assert both(store)[1] == marks


def test_a_month_whose_sums_differ_is_found_and_counted_again(store: ClickHouseStore) -> None:
    insert_events(store, dossier_province(seed=17, dossiers=80), batch=40)
    assert mark_counts.months_apart(store) == []
    # What a cut insert would leave: a count without its mark (and a mark without its count).
    (month, day_) = store.query("SELECT toStartOfMonth(max(day)), max(day) FROM dossier_marks")[0]
    store.command(
        "INSERT INTO dossier_mark_counts (agency, procedure, measure, day, marks) "
        f"VALUES ('{AGENCY}', 'p', 'received', '{day_}', 1)"
    )
    store.command(
        "INSERT INTO dossier_marks (agency, procedure, measure, dossier, day) "
        f"VALUES ('{AGENCY}', 'p', 'resolved', 'X-1', '{day_}')"
    )
    assert mark_counts.months_apart(store) == [(month, 2)]
    mark_counts.recount_month(store, month)
    assert mark_counts.months_apart(store) == []
    marks, counts = both(store)
    assert counts == marks


def test_qms_metrics_recount_says_which_months_differ_and_repairs_them(
    store: ClickHouseStore, chdb_dsn: str
) -> None:
    insert_events(store, dossier_province(seed=19, dossiers=40), batch=40)
    env = {"CLICKHOUSE_DSN": chdb_dsn, "CLICKHOUSE_DATABASE": store.database}
    clean = CliRunner().invoke(qms, ["metrics", "recount"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "the dossier counts equal the marks" in clean.output
    (month, day_) = store.query("SELECT toStartOfMonth(min(day)), min(day) FROM dossier_marks")[0]
    store.command(
        "INSERT INTO dossier_mark_counts (agency, procedure, measure, day, marks) "
        f"VALUES ('{AGENCY}', 'p', 'withdrawn', '{day_}', -1)"
    )
    found = CliRunner().invoke(qms, ["metrics", "recount"], env=env)
    assert found.exit_code == 1
    assert f"{month:%Y-%m}: 1 (agency, procedure, measure, day) sums differ" in found.output
    repaired = CliRunner().invoke(qms, ["metrics", "recount", "--repair"], env=env)
    assert repaired.exit_code == 0, repaired.output
    assert f"{month:%Y-%m}: counted again from the marks" in repaired.output
    assert mark_counts.months_apart(store) == []
