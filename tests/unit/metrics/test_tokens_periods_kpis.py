"""Deduplication tokens, reporting periods, KPI arithmetic and the migrations files."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.deadletter import RecordPosition
from services.metrics.adapters.migrations import load_migrations, split_statements
from services.metrics.domain.kpis import (
    objective_met,
    public_service_score,
    score_components,
    transparency,
)
from services.metrics.domain.periods import DayRange, PeriodError, month_range, period_range
from services.metrics.domain.tokens import batch_token

pytestmark = pytest.mark.unit


def P(topic: str, partition: int, offset: int) -> RecordPosition:
    return RecordPosition(topic, partition, offset)


def test_same_records_same_token_whatever_their_order() -> None:
    a = [P("t", 0, 5), P("t", 0, 6), P("t", 1, 2), P("u", 0, 9)]
    assert batch_token(a) == batch_token(list(reversed(a)))


def test_differently_cut_batches_get_other_tokens() -> None:
    assert batch_token([P("t", 0, 5), P("t", 0, 6)]) != batch_token([P("t", 0, 5)])
    assert batch_token([P("t", 0, 5)]) != batch_token([P("t", 1, 5)])
    assert batch_token([P("t", 0, 5)]) != batch_token([P("u", 0, 5)])


def test_month_ranges_include_both_ends() -> None:
    assert month_range("2026-01", "2026-03") == DayRange(date(2026, 1, 1), date(2026, 4, 1))
    assert month_range("2026-12", "2026-12") == DayRange(date(2026, 12, 1), date(2027, 1, 1))
    assert month_range(None, None) == DayRange()
    assert month_range(None, "2026-02").contains(date(2020, 1, 1))


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-13", None, "from"),
        ("2026-1", None, "from"),
        (None, "26-01", "to"),
        ("2026-03", "2026-01", "to"),
    ],
)
def test_bad_months_name_the_parameter(start: str | None, end: str | None, field: str) -> None:
    with pytest.raises(PeriodError, match=f"^{field}:"):
        month_range(start, end)


def test_periods() -> None:
    assert period_range("2026") == DayRange(date(2026, 1, 1), date(2027, 1, 1))
    assert period_range("2026-Q4") == DayRange(date(2026, 10, 1), date(2027, 1, 1))
    assert period_range("2026-02") == DayRange(date(2026, 2, 1), date(2026, 3, 1))
    with pytest.raises(PeriodError, match="period"):
        period_range("2026-W01")


def test_score_drops_unmeasurable_components_and_renormalises() -> None:
    components = score_components(
        received=10,
        resolved=8,
        on_time=6,
        late=2,
        received_online=5,
        received_online_l34=2,
        apologies=1,
        ratings=0,
        satisfied=0,
    )
    assert components == {
        "progress": 75.0,
        "online_service": 50.0,
        "satisfaction": None,
        "transparency": 50.0,
        "digitisation": 20.0,
    }
    expected = (30 * 75 + 20 * 50 + 15 * 50 + 15 * 20) / 80
    assert public_service_score(components) == pytest.approx(expected)
    assert public_service_score({k: None for k in components}) is None


def test_transparency_and_objectives() -> None:
    assert transparency(0, 0) == 100.0
    assert transparency(5, 2) == 100.0
    assert transparency(1, 4) == 25.0
    assert objective_met(95.0, 90.0, "at_least") is True
    assert objective_met(95.0, 90.0, "at_most") is False
    assert objective_met(None, 90.0, "at_least") is None


def test_migrations_are_numbered_without_gaps_and_idempotent() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        for statement in m.statements:
            # Re-running any statement changes nothing: create-if-missing, replace, drop-if-
            # present, or a backfill into a table whose duplicates collapse (dossier marks).
            idempotent = "IF NOT EXISTS" in statement or statement.startswith(
                (
                    "CREATE OR REPLACE VIEW",
                    "DROP VIEW IF EXISTS",
                    "DROP TABLE IF EXISTS",
                    "INSERT INTO dossier_marks ",
                )
            )
            assert idempotent, (m.name, statement[:60])


def test_statements_split_on_line_ending_semicolons_only() -> None:
    sql = "-- comment; with a semicolon\nCREATE VIEW a AS SELECT ';' AS x;\nSELECT 2;\n"
    assert split_statements(sql) == ["CREATE VIEW a AS SELECT ';' AS x", "SELECT 2"]
