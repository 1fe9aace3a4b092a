"""Deduplication tokens, reporting periods, KPI arithmetic and the migrations files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.common.deadletter import RecordPosition
from services.metrics.adapters.migrations import load_migrations, split_statements
from services.metrics.domain.kpis import objective_met
from services.metrics.domain.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    MONTH_PATTERN,
    PERIOD_PATTERN,
    DayRange,
    PeriodError,
    month_range,
    parse_instant,
    period_range,
    utc_instant,
)
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


@pytest.mark.parametrize(
    "period", ["0000", "9999", "9999-Q4", "9999-12", "0000-01", "1969-12", "2026\n", "٢٠٢٦"]
)
def test_periods_outside_the_years_held_or_not_ascii_are_refused(period: str) -> None:
    with pytest.raises(PeriodError, match=r"^period:"):
        period_range(period)


@pytest.mark.parametrize(("start", "end"), [("0000-01", None), (None, "9999-12")])
def test_months_outside_the_years_held_are_refused(start: str | None, end: str | None) -> None:
    with pytest.raises(PeriodError, match="outside the years"):
        month_range(start, end)


def test_the_first_and_last_years_held_are_whole_periods() -> None:
    assert period_range(str(FIRST_YEAR)).start == date(FIRST_YEAR, 1, 1)
    assert month_range(None, f"{LAST_YEAR}-12").end == date(LAST_YEAR + 1, 1, 1)


@pytest.mark.parametrize(
    "at",
    [
        datetime(999, 12, 31, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-7))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8))),  # year 0 in UTC
        datetime(2026, 1, 1),  # no time zone
    ],
)
def test_instants_that_cannot_be_read_are_refused_naming_the_parameter(at: datetime) -> None:
    with pytest.raises(PeriodError, match=r"^at:"):
        utc_instant(at, "at")


def test_the_documented_patterns_accept_exactly_the_years_held() -> None:
    for year in range(10_000):
        held = FIRST_YEAR <= year <= LAST_YEAR
        assert bool(re.match(MONTH_PATTERN, f"{year:04d}-07")) is held, year
        assert bool(re.match(PERIOD_PATTERN, f"{year:04d}")) is held, year
        assert bool(re.match(PERIOD_PATTERN, f"{year:04d}-Q3")) is held, year


def test_an_empty_month_is_refused_not_taken_as_unbounded() -> None:
    with pytest.raises(PeriodError, match=r"^to:"):
        month_range(None, "")


@pytest.mark.parametrize(
    "text",
    [
        "0.5",
        "1700000000",
        "2026-01-01T00:00:00",
        "2026-02-30T00:00:00Z",
        "0999-12-31T00:00:00Z",
        "9999-12-31T23:59:59-07:00",
        "2026-01-01T00:00:00+99:00",
        "2026-01-01T00:00:00Z\n",
    ],
)
def test_instant_parameters_are_rfc_3339_with_a_zone_within_the_years(text: str) -> None:
    with pytest.raises(PeriodError, match=r"^at:"):
        parse_instant(text, "at")


def test_an_instant_is_read_in_utc() -> None:
    assert parse_instant("2026-03-01T08:00:00.1234567+07:00", "at") == datetime(
        2026, 3, 1, 1, 0, 0, 123456, tzinfo=UTC
    )
    at = datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=7)))
    assert utc_instant(at, "at") == datetime(2026, 1, 1, tzinfo=UTC)


def test_objectives() -> None:
    assert objective_met(95.0, 90.0, "at_least") is True
    assert objective_met(95.0, 90.0, "at_most") is False
    assert objective_met(None, 90.0, "at_least") is None


def test_migrations_are_numbered_without_gaps_and_idempotent() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        dropped: set[str] = set()
        for statement in m.statements:
            if drop := re.match(r"DROP TABLE IF EXISTS (\w+)$", statement):
                dropped.add(drop[1])
            # Re-running any statement changes nothing: create-if-missing, replace, drop-if-
            # present, a column's type set again, a backfill into a table whose duplicates
            # collapse (dossier marks), or one into a table the migration dropped and created
            # again before it (the whole file re-runs from its first statement).
            into = re.match(r"INSERT INTO (\w+)", statement)
            idempotent = (
                "IF NOT EXISTS" in statement
                or (into is not None and into[1] in dropped)
                or statement.startswith(
                    (
                        "CREATE OR REPLACE VIEW",
                        "DROP VIEW IF EXISTS",
                        "DROP TABLE IF EXISTS",
                        "ALTER TABLE dossier_marks MODIFY COLUMN measure ",
                        "INSERT INTO dossier_marks ",
                        "ALTER TABLE dossier_marks MODIFY COLUMN ",
                    )
                )
            )
            assert idempotent, (m.name, statement[:60])


def test_statements_split_on_line_ending_semicolons_only() -> None:
    sql = "-- comment; with a semicolon\nCREATE VIEW a AS SELECT ';' AS x;\nSELECT 2;\n"
    assert split_statements(sql) == ["CREATE VIEW a AS SELECT ';' AS x", "SELECT 2"]
