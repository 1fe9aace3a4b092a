"""Schemathesis against the OpenAPI document of a real CAPA service (real broker): all checks.

One CAPA exists (opened by policy) and every `{capa_id}` is it, so the commands reach the
command agent and come back applied, stale (409) or illegal (422) — not only 404. A 422
for a schema-valid body is a refusal by a CAPA rule (an illegal transition), which the
schema cannot express; every other check runs as schemathesis defines it. No 5xx at all.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from services.capa.domain.policies import capa_id_for
from tests.integration.capa.conftest import CapaProcess, eventually, finding, produce_raw

pytestmark = pytest.mark.integration

ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 80  # per operation and phase: ~2,100 cases in all, ~90 s
FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"
TOKEN = "dev-iso-secretary-token"  # every command a person may give, every agency

CONFIG = """
[parameters]
"path.capa_id" = "{capa_id}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


async def test_no_server_error_and_every_check_holds(
    capa_service: CapaProcess, kafka_bootstrap: str, capa_prefix: str, tmp_path: Path
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-fuzzed-1")])
    capa_id = capa_id_for("audit_finding", FINDING_SOURCE, "finding-fuzzed-1")
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=30) as api:

        async def opened() -> bool:
            response = await api.get(
                f"/v1/capas/{capa_id}", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            return response.status_code == 200

        await eventually(opened)
    (tmp_path / "schemathesis.toml").write_text(CONFIG.format(capa_id=capa_id))
    result = await asyncio.to_thread(
        subprocess.run,
        [
            str(ST),
            "run",
            f"{capa_service.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261201",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(tmp_path / "junit.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    print(f"\nschemathesis: {generated.group(0) if generated else '?'} cases")
    assert result.returncode == 0, output[-8000:]
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    tested = {case.get("name") for case in suite.iter("testcase")}
    assert {"POST /v1/capas/{capa_id}/correction", "GET /v1/capas/{capa_id}"} <= tested
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
