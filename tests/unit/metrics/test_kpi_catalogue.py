"""The KPI catalogue is the one home of each rule: the frozen migrations' views, the read
API, the Grafana panels and docs/kpis.md agree with it."""

from __future__ import annotations

import re

import pytest

from services.common.settings import REPO_ROOT
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.migrations import load_migrations
from services.metrics.domain import kpi_catalogue as catalogue
from services.metrics.domain import procedure_kpis
from services.metrics.domain.kpi_docs import TABLES, sections, with_tables

pytestmark = pytest.mark.unit


def flat(sql: str) -> str:
    """SQL with its layout taken out: one space between words, none inside parentheses."""
    text = re.sub(r"\s+", " ", sql)
    return re.sub(r"\(\s", "(", re.sub(r"\s\)", ")", text)).strip()


def latest(pattern: str) -> str:
    """The last migration statement matching `pattern` (a later migration replaces it)."""
    found = [s for m in load_migrations() for s in m.statements if re.search(pattern, s, re.DOTALL)]
    assert found, pattern
    return flat(found[-1])


def latest_create(kind: str, name: str) -> str:
    """The last `CREATE [OR REPLACE] kind [IF NOT EXISTS] name` of the migrations."""
    return latest(rf"^CREATE (OR REPLACE )?{kind} (IF NOT EXISTS )?{name}\b")


def test_dossier_marks_are_the_catalogues_measures() -> None:
    marks = f"ARRAY JOIN {catalogue.marks_of_event_sql()} AS measure"
    assert flat(marks) in latest_create("MATERIALIZED VIEW", "dossier_marks_mv")
    assert flat(marks) in latest(r"^INSERT INTO dossier_marks ")
    # The summed counts (0019) mark an inserted fact the same way, in the same measures.
    assert flat(marks) in latest_create("MATERIALIZED VIEW", "dossier_mark_changes_mv")
    for table in ("dossier_mark_index", "dossier_mark_counts", "dossier_mark_changes"):
        created = latest_create("TABLE", table)
        assert re.search(rf"\bmeasure {re.escape(catalogue.measure_enum_sql())},", created), table
    # The measure column as created, or as a later migration modified it for a new measure.
    column = latest(
        r"^(CREATE TABLE (IF NOT EXISTS )?dossier_marks\b|"
        r"ALTER TABLE dossier_marks MODIFY COLUMN measure )"
    )
    assert re.search(rf"\bmeasure {re.escape(catalogue.measure_enum_sql())}(,|$)", column)


@pytest.mark.parametrize(
    "view", ["kpi_dossiers_agency_month", "kpi_dossiers_agency_procedure_month"]
)
def test_the_dossier_views_count_the_catalogues_measures(view: str) -> None:
    counts = f"toStartOfMonth(day) AS month, {catalogue.dossier_counts_sql()} FROM"
    assert flat(counts) in latest_create("VIEW", view)


def test_the_score_view_applies_the_catalogues_components_and_weights() -> None:
    view = latest_create("VIEW", "kpi_public_service_score_month")
    assert flat(catalogue.score_columns_sql()) in view
    assert sum(catalogue.SCORE_WEIGHTS.values()) == 100


def test_the_objective_views_are_the_catalogues_as_of_every_event() -> None:
    assert flat(catalogue.objective_state_sql()) in latest_create("VIEW", "objective_state")
    evaluations = latest_create("VIEW", "objective_evaluations")
    assert flat(catalogue.objective_evaluations_sql()) in evaluations
    assert "time <= now64(3)" in catalogue.objective_state_sql("now64(3)")


def test_the_agencies_view_is_the_catalogues_agencies_in_scope_of_all_time() -> None:
    assert flat(catalogue.agencies_in_scope_sql()) in latest_create("VIEW", "agencies")


def test_the_satisfaction_view_uses_the_satisfied_threshold() -> None:
    view = latest_create("VIEW", "kpi_satisfaction_agency_month")
    assert f"countIf({catalogue.SATISFIED_SQL}) AS satisfied" in view


def test_a_changed_rule_no_longer_matches_the_views() -> None:
    changed = catalogue.score_columns_sql().replace("30 *", "35 *")
    assert flat(changed) not in latest_create("VIEW", "kpi_public_service_score_month")


def test_the_read_api_counts_the_catalogues_measures_in_its_order() -> None:
    columns = re.findall(r"AS (\w+)", kpi_queries.DOSSIER_COUNTS)
    assert tuple(columns) == catalogue.dossier_count_names()
    assert columns[:4] == ["received", "resolved", "on_time", "late"]


def test_an_unknown_measure_is_refused() -> None:
    with pytest.raises(KeyError, match="not a dossier measure"):
        catalogue.count_sql("recieved")


def test_docs_kpis_tables_are_the_catalogues() -> None:
    page = (REPO_ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    assert sections(page) == set(TABLES), "docs/kpis.md lost a generated section"
    assert with_tables(page) == page, "run `qms metrics kpi-docs`"


def test_the_update_timeliness_view_is_the_catalogues() -> None:
    view = latest_create("VIEW", "kpi_update_timeliness_agency_month")
    assert flat(catalogue.update_timeliness_sql()) in view
    late = f"countIf(working_days_late > {catalogue.LATE_UPDATE_AFTER_WORKING_DAYS})"
    assert late in view


@pytest.mark.parametrize(
    ("view", "sql"),
    [
        ("dossier_steps", catalogue.dossier_steps_sql()),
        (
            "kpi_steps_agency_unit_month",
            catalogue.step_kpis_sql(("agency", "procedure", "unit", "step", "month")),
        ),
        ("kpi_time_lost_dossiers", catalogue.time_lost_sql()),
    ],
)
def test_the_process_sheet_views_are_the_catalogues(view: str, sql: str) -> None:
    assert flat(sql) in latest_create("VIEW", view)


def test_the_time_lost_view_orders_steps_by_overrun_then_duration_then_earliest() -> None:
    assert catalogue.TIME_LOST_ORDER in catalogue.time_lost_sql()
    assert flat(catalogue.TIME_LOST_ORDER) in latest_create("VIEW", "kpi_time_lost_dossiers")


def test_the_document_control_views_are_the_catalogues() -> None:
    documents = latest_create("VIEW", "kpi_documents_agency_month")
    assert flat(catalogue.documents_sql()) in documents
    overdue = latest_create("VIEW", "kpi_process_revisions_overdue")
    assert flat(catalogue.process_revisions_view_sql()).rstrip(";") == overdue
    assert f"addDays(a.effective_from, {catalogue.PROCESS_REVISION_DAYS})" in overdue
    changed = catalogue.process_revisions_overdue_sql("now64(3)").replace("r.2 <", "r.2 <=")
    assert flat(changed) not in overdue
    settled = latest_create("VIEW", "process_revisions_overdue_settled")
    assert settled == flat(
        "CREATE OR REPLACE VIEW process_revisions_overdue_settled AS "
        + catalogue.process_revisions_settled_sql()
    )


@pytest.mark.parametrize(
    ("view", "sql"),
    [
        ("procedure_versions_in_force", procedure_kpis.procedure_versions_in_force_sql()),
        ("dossier_register", procedure_kpis.dossier_register_sql()),
        ("procedure_nonconforming_dossiers", procedure_kpis.procedure_not_in_force_sql()),
        (
            "kpi_procedure_not_in_force_agency_month",
            procedure_kpis.procedure_not_in_force_counts_sql(),
        ),
        ("dossier_statutory_due", procedure_kpis.dossier_statutory_due_sql()),
        ("extended_due_dossiers", procedure_kpis.extended_due_sql()),
        ("kpi_statutory_due_agency_month", procedure_kpis.statutory_due_counts_sql()),
        ("kpi_on_time_statutory_agency_month", procedure_kpis.on_time_statutory_sql()),
    ],
)
def test_the_register_views_are_the_catalogues_rules(view: str, sql: str) -> None:
    assert latest_create("VIEW", view) == flat(f"CREATE OR REPLACE VIEW {view} AS {sql}")
