"""`qms audit verify` tells automation an outage (2) from a broken trail (1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from services.intake.ledger.cli import EXIT_BROKEN, EXIT_UNREADABLE, register_audit_commands
from services.intake.ledger.settings import DEV_PUBLIC_KEY_FILE
from tests.support import free_port

pytestmark = pytest.mark.unit


def audit(*args: str, **env: str) -> Result:
    app = typer.Typer()
    register_audit_commands(app)
    return CliRunner().invoke(app, list(args), env={"QMS_ENV": "development", **env})


def test_an_unreachable_broker_is_could_not_read_not_broken() -> None:
    result = audit(
        "verify", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", QMS_TOPIC_PREFIX="nowhere."
    )
    assert result.exit_code == EXIT_UNREADABLE, result.output
    assert "could not read" in result.output


def test_production_refuses_to_verify_with_the_development_key(tmp_path: Path) -> None:
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"version": 1, "subject": "X", "chains": []}))
    result = audit(
        "verify",
        "--trail-file",
        str(trail),
        "--public-key",
        str(DEV_PUBLIC_KEY_FILE),
        QMS_ENV="production",
        QMS_LEDGER_KEY_NAME="qms-trail-h56",
    )
    assert result.exit_code == EXIT_UNREADABLE, result.output
    assert "development key is public" in result.output


def test_a_tampered_trail_file_is_broken(tmp_path: Path) -> None:
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"version": 1, "subject": "X", "chains": [{"chain": 1}]}))
    result = audit("verify", "--trail-file", str(trail), "--public-key", str(DEV_PUBLIC_KEY_FILE))
    assert result.exit_code == EXIT_BROKEN, result.output
