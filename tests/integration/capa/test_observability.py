"""The CAPA service answers /metrics with its consumer lag and logs JSON lines only."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.capa.domain.policies import capa_id_for
from tests.integration.capa.conftest import (
    CapaProcess,
    bearer,
    eventually,
    finding,
    produce_raw,
)

pytestmark = pytest.mark.integration


async def test_metrics_has_the_groups_lag_per_partition_and_the_process(
    api: httpx.AsyncClient, capa_service: CapaProcess, capa_prefix: str
) -> None:
    group = f"{capa_prefix}capa"

    async def lag_partitions() -> set[tuple[str, str]] | None:
        text = (await api.get("/metrics")).raise_for_status().text
        found = {
            (s.labels["topic"], s.labels["partition"])
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "qms_consumer_lag_records" and s.labels["consumer"] == group
        }
        return found or None

    partitions = await eventually(lag_partitions)
    assert (f"{capa_prefix}capa.commands.v1", "0") in partitions
    assert (f"{capa_prefix}dossier.v1", "0") in partitions
    text = (await api.get("/metrics")).text
    assert "process_cpu_seconds_total" in text and "python_info" in text


def command_counts(text: str) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["command"], s.labels["outcome"], s.labels["refusal"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "qms_capa_commands_total"
    }


async def test_commands_are_counted_by_outcome(
    api: httpx.AsyncClient, kafka_bootstrap: str, capa_prefix: str
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-metrics-1")])
    capa_id = capa_id_for("audit_finding", "urn:vn:gov:h56:audit-tool", "finding-metrics-1")

    async def opened() -> bool:
        response = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
        return response.status_code == 200

    await eventually(opened)
    body = {"expected_version": 1, "reason": "r", "correction": "c"}
    path = f"/v1/capas/{capa_id}/correction"
    assert (await api.post(path, json=body, headers=bearer("owner"))).status_code == 200
    assert (await api.post(path, json=body, headers=bearer("owner"))).status_code == 409
    counts = command_counts((await api.get("/metrics")).text)
    assert counts[("RecordCorrection", "accepted", "")] >= 1
    refused = {k: v for k, v in counts.items() if k[:2] == ("RecordCorrection", "refused")}
    assert refused and all(kind for _, _, kind in refused), counts


def test_every_log_line_is_a_json_object(capa_service: CapaProcess) -> None:
    log = capa_service.workdir / f"capa-{capa_service.starts}.log"
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the worker logged nothing at all"
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "logger", "event"} <= set(entry), line
