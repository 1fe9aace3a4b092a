"""`qms report` refuses agency codes and periods that would name a file elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app as qms
from services.common.settings import REPO_ROOT
from services.metrics.entrypoints.report_cli import REPORTS_DIR, ReportError, report_path

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
