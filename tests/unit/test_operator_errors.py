"""Errors an operator can act on: one line and an exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app as qms
from tests.support import free_port

pytestmark = pytest.mark.unit


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_a_month_13_report_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        qms,
        ["report", "--agency", "H56.01", "--period", "2026-13"],
        env={"CLICKHOUSE_DSN": f"chdb://{tmp_path / 'never-opened'}"},
    )
    assert result.exit_code == 2
    assert one_line(result.output).startswith("error: --period:")
    assert "2026-13" in result.output


def test_migrate_against_a_dead_server_is_a_one_line_error() -> None:
    dead = f"http://default:secret@127.0.0.1:{free_port()}/"  # nothing listens there
    result = CliRunner().invoke(qms, ["migrate"], env={"CLICKHOUSE_DSN": dead})
    assert result.exit_code == 2
    line = one_line(result.output)
    assert line.startswith("error: ClickHouse http://127.0.0.1:") and "refused" in line
    assert "secret" not in line  # the DSN's password stays out of logs


def test_migrate_print_cluster_needs_no_server() -> None:
    dead = f"http://default:x@127.0.0.1:{free_port()}/"
    result = CliRunner().invoke(
        qms, ["migrate", "--print", "--cluster", "{cluster}"], env={"CLICKHOUSE_DSN": dead}
    )
    assert result.exit_code == 0, result.output
    assert "CREATE DATABASE IF NOT EXISTS `qms` ON CLUSTER '{cluster}';" in result.output
    assert "ENGINE = Distributed('{cluster}', 'qms', 'dossier_events_local'" in result.output


def test_demo_help_names_its_environment_variables() -> None:
    result = CliRunner().invoke(qms, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("QMS_DEMO_INTAKE_URL", "QMS_DEMO_TOKEN", "QMS_DEMO_BATCH_SIZE"):
        assert name in result.output, name


def test_an_effectiveness_check_against_a_dead_server_is_a_one_line_error() -> None:
    dead = f"http://default:secret@127.0.0.1:{free_port()}/"  # nothing listens there
    result = CliRunner().invoke(
        qms, ["metrics", "effectiveness-check"], env={"CLICKHOUSE_DSN": dead}
    )
    assert result.exit_code == 2
    line = one_line(result.output)
    assert line.startswith("error: ClickHouse http://127.0.0.1:") and "refused" in line
    assert "secret" not in line
