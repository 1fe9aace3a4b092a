"""Schemathesis against the OpenAPI document of the metrics read API on chDB: no 5xx.

The service reads a small province (the `loaded` database) and is called with the
development national reader's token; `--checks all` also sends requests without it, with
wrong types and out-of-range values, and checks every answer against the document.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from services.common.users import DEV_NATIONAL_READER_TOKEN
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from tests.integration.metrics.conftest import running_service

pytestmark = pytest.mark.integration

ST = Path(sys.executable).with_name("st")
SEED = "20261201"
# A schema-valid request may still be refused with 422 for what a schema cannot say: `to`
# before `from`, an instant whose UTC time leaves the years the store holds. Every other
# check runs as `--checks all` has it.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", 401, 404, 422]
"""


async def test_no_server_error_and_every_answer_as_documented(
    loaded: ClickHouseStore, chdb_dsn: str, tmp_path: Path
) -> None:
    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=loaded.database)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    async with running_service(settings, consume=False) as api:
        process = await asyncio.create_subprocess_exec(
            str(ST),
            "--config-file",
            str(config),
            "run",
            f"{api.base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--seed",
            SEED,
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--header",
            f"Authorization: Bearer {DEV_NATIONAL_READER_TOKEN}",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(tmp_path / "junit.xml"),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    text = output.decode()
    assert process.returncode == 0, text[-8000:]
    generated = re.search(r"([0-9]+) generated", text)
    print(generated[0] if generated else text[-2000:])  # the case count, with `pytest -s`
    assert generated is not None and int(generated[1]) >= 300, text[-2000:]
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    tested = {case.get("name") for case in suite.iter("testcase")}
    assert {"GET /v1/stats", "GET /v1/kpi/dossiers/by-agency", "GET /healthz"} <= tested
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
