"""Schemathesis against the OpenAPI document of a real intake (uvicorn, real broker): no 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.integration.intake.conftest import DEMO_TOKEN
from tests.support import free_port

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
ST = Path(sys.executable).with_name("st")


@pytest.fixture
def served_intake(kafka_bootstrap: str, topic_prefix: str) -> Iterator[str]:
    """Intake under uvicorn in a subprocess on a free port, on this test's topics."""
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "QMS_TOPIC_PREFIX": topic_prefix,
        "QMS_ENV": "development",
        "QMS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "services.intake.entrypoints.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=REPO_ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "intake exited during start-up"
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "intake did not become ready"
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_schemathesis(
    base_url: str, tmp_path: Path, *filters: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ST),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "10",
            "--seed",
            "20261122",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--header",
            f"Authorization: Bearer {DEMO_TOKEN}",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(tmp_path / "junit.xml"),
            *filters,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )


def test_no_server_error_anywhere_in_the_openapi_document(
    served_intake: str, tmp_path: Path
) -> None:
    """Every operation of the app (audit-trail routes included when present)."""
    result = run_schemathesis(served_intake, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    tested = {case.get("name") for case in suite.iter("testcase")}
    assert tested >= {"POST /v1/events", "POST /v1/events/batch", "GET /readyz"}
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    # The generated events were not all refused: some valid ones really went through Kafka.
    metrics = httpx.get(f"{served_intake}/metrics", timeout=5).text
    accepted = [
        line
        for line in metrics.splitlines()
        if line.startswith("qms_intake_events_accepted_total{")
    ]
    assert accepted, metrics
