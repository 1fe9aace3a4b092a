"""`qms demo` as a typer command: truth to JSON and to the terminal, events to JSON Lines."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.demo.domain.province import generate_province
from services.demo.domain.truth import ground_truth
from services.demo.entrypoints.cli import demo

pytestmark = pytest.mark.unit

NOW = "2026-06-15T10:00:00+07:00"
SIZE = ["--seed", "9", "--agencies", "12", "--dossiers", "400", "--months", "3", "--now", NOW]


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command()(demo)
    return cli


def test_writes_the_ground_truth_and_events_without_publishing(tmp_path: Path) -> None:
    truth_path, events_path = tmp_path / "truth.json", tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        app(),
        [*SIZE, "--no-publish", "--truth-json", str(truth_path), "--events-json",
         str(events_path), "--print-truth"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    province = generate_province(9, 12, 400, 3, datetime.fromisoformat(NOW))
    assert json.loads(truth_path.read_text()) == ground_truth(province.events).as_json()
    lines = events_path.read_text().splitlines()
    assert len(lines) == len(province.events)
    assert json.loads(lines[0])["id"] == province.events[0].id
    assert "Province totals" in result.output and "CAPAs total" in result.output
    assert "Dossiers per agency" in result.output and "H56.101" in result.output


def test_refuses_a_moment_without_time_zone() -> None:
    result = CliRunner().invoke(app(), ["--no-publish", "--now", "2026-06-15T10:00:00"])
    assert result.exit_code != 0
    assert "time zone" in result.output


def test_fails_loudly_when_intake_cannot_be_reached() -> None:
    # a port nothing listens on; one attempt keeps the test short
    result = CliRunner().invoke(
        app(), [*SIZE, "--intake-url", "http://127.0.0.1:9", "--token", "t", "--max-attempts", "1"]
    )
    assert result.exit_code == 1
    assert "publishing failed" in result.output
