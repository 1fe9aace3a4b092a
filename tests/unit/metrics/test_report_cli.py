"""`qms report` refuses agency codes and periods that would name a file elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app as qms
from services.common.settings import REPO_ROOT
from services.metrics.config import MetricsSettings
from services.metrics.domain.periods import period_range
from services.metrics.entrypoints.report_cli import (
    REPORTS_DIR,
    ReportError,
    cut_off,
    report_path,
    write_report,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--agency", "../../../x"),
        ("--agency", "../../x"),
        ("--agency", "/etc/passwd"),
        ("--agency", "h56.01"),
        ("--period", "../../../x"),
        ("--period", "2026/../../x"),
        ("--period", "0000"),
    ],
)
def test_a_report_naming_a_path_is_refused_in_one_line_and_writes_nothing(
    option: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = set(REPO_ROOT.iterdir()), set(REPORTS_DIR.glob("**/*"))
    arguments = {"--agency": "H56.01", "--period": "2026-01", option: value}
    # The store is never opened: the refusal comes first.
    monkeypatch.setenv("CLICKHOUSE_DSN", f"chdb://{tmp_path / 'never-opened'}")
    result = CliRunner().invoke(qms, ["report", *[x for kv in arguments.items() for x in kv]])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}:"), result.output
    assert (set(REPO_ROOT.iterdir()), set(REPORTS_DIR.glob("**/*"))) == before
    assert not (tmp_path / "never-opened").exists()


def test_the_default_report_file_is_inside_the_reports_folder() -> None:
    path = report_path("H56.01", "2026-Q1", None)
    assert path == REPORTS_DIR.resolve() / "management-review-H56.01-2026-Q1.html"
    with pytest.raises(ReportError, match="--agency"):
        report_path("H56.01/../../..", "2026-Q1", None)


def test_the_cut_off_is_the_end_of_the_period_or_now_while_it_runs() -> None:
    june = period_range("2026-06")
    now = datetime(2026, 12, 1, 21, tzinfo=UTC)
    # The last local millisecond of 30 June is just before 17:00 UTC on 30 June.
    assert cut_off(june, now) == datetime(2026, 6, 30, 16, 59, 59, 999000, tzinfo=UTC)
    assert cut_off(period_range("2026-Q1"), now) == datetime(
        2026, 3, 31, 16, 59, 59, 999000, tzinfo=UTC
    )
    running = datetime(2026, 6, 15, 3, tzinfo=UTC)
    assert cut_off(june, running) == running


def test_an_unknown_knowledge_variant_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="--known: 'then'"):
        write_report(
            MetricsSettings(data_dir=tmp_path), "H56.01", "2026", tmp_path / "r.html", None,
            known="then",
        )  # fmt: skip
    assert not (tmp_path / "r.html").exists()
