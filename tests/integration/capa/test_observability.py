"""The CAPA service answers /metrics with its consumer lag and logs JSON lines only."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.capa.conftest import CapaProcess, eventually

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


def test_every_log_line_is_a_json_object(capa_service: CapaProcess) -> None:
    log = capa_service.workdir / f"capa-{capa_service.starts}.log"
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the worker logged nothing at all"
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "logger", "event"} <= set(entry), line
