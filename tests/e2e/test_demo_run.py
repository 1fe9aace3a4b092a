"""`qms run` as a newcomer runs it: the printed figures equal the demo's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from services.common.settings import REPO_ROOT
from services.demo.domain.province import generate_province
from services.demo.domain.timeliness_truth import fold_update_timeliness
from services.demo.domain.truth import ground_truth

pytestmark = pytest.mark.e2e

NOW = "2026-11-01T00:00:00+07:00"
SEED, AGENCIES, DOSSIERS, MONTHS = 11, 30, 1200, 3


def test_the_run_prints_per_agency_figures_equal_to_the_ground_truth(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "QMS_TOPIC_PREFIX": f"e2e{uuid.uuid4().hex[:8]}.",
        "QMS_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("CLICKHOUSE_DSN", None)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "services",
            "run",
            "--seed",
            str(SEED),
            "--agencies",
            str(AGENCIES),
            "--dossiers",
            str(DOSSIERS),
            "--months",
            str(MONTHS),
            "--now",
            NOW,
            "--port-base",
            "18180",
            "--summary-json",
            str(summary_path),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert "all agencies" in completed.stdout

    summary = json.loads(summary_path.read_text())
    province = generate_province(
        seed=SEED,
        agencies=AGENCIES,
        dossiers=DOSSIERS,
        months=MONTHS,
        now=datetime.fromisoformat(NOW),
    )
    truth = ground_truth(province.events)
    printed = {
        row["agency"]: {k: row[k] for k in ("received", "resolved", "on_time", "late")}
        for row in summary["agencies"]
    }
    expected = {agency: counts.as_dict() for agency, counts in truth.agencies.items()}
    assert printed == expected
    assert sum(row["late"] for row in printed.values()) > 0, "the demo must have late dossiers"

    capa = summary["capa"]
    assert capa["opened"] == truth.expected_capas["total"] > 0
    assert capa["closed"] == capa["scripted"]["closed"] > 0
    assert "CAPA:" in completed.stdout
    board = summary["capa_in_clickhouse"]
    assert board["capas"] == capa["opened"] and board["closed"] == capa["closed"]
    assert board["backlog"] == capa["opened"] - capa["closed"] - capa.get("cancelled", 0)
    # One rule and one clock (--now): the CAPA service and ClickHouse count the same overdue.
    assert board["overdue"] == capa["overdue"] > 0

    trail = summary["audit_trail"]
    assert trail["ok"], trail
    published_to_intake = len(province.events)
    assert trail["entries"] == published_to_intake

    # Every demo event carries the one-stop-shop's recording time: the lag is from it, not
    # from intake's receipt (the whole history is posted at once).
    timeliness = summary["update_timeliness"]
    recorded = fold_update_timeliness(province.events)
    assert timeliness["matches_ground_truth"], timeliness
    assert timeliness["updates"] == published_to_intake
    assert timeliness["late_updates"] == sum(
        v["late_updates"] for v in recorded.counts(("agency",)).values()
    )
    assert 0 < timeliness["late_update_share"] < 20
    assert "Timeliness of updates:" in completed.stdout
