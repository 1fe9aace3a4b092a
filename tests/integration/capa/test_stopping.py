"""SIGTERM stops a CAPA worker that has answered HTTP commands within 10 s, broker up or down.

With faust's `agent.ask` the worker never exited: its stop waited for its own reply-topic
message. The orchestrator's grace period (Kubernetes: 30 s by default, ours 10 s) is the
bound here, not a performance threshold.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.capa.domain.policies import capa_id_for
from services.common.settings import REPO_ROOT
from services.common.topics import ensure_topics, load_topic_specs
from tests.integration.capa.conftest import (
    CapaProcess,
    bearer,
    eventually,
    finding,
    produce_raw,
    terminate_within_grace,
)

pytestmark = pytest.mark.integration

FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"
# A throwaway broker of this test only (it is stopped under the worker's feet).
THROWAWAY_PORT = int(os.environ.get("QMS_TEST_THROWAWAY_KAFKA_PORT", "39502"))


def capa_env(bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_CAPA_APP_ID": f"{prefix}capa",
        "QMS_ENV": "development",
        "QMS_LOG_LEVEL": "WARNING",
    }


async def answer_commands(service: CapaProcess, bootstrap: str, prefix: str) -> None:
    """Open a CAPA by policy, then one command that applies and one that is stale."""
    await produce_raw(bootstrap, prefix, [finding("finding-stop-1")])
    capa_id = capa_id_for("audit_finding", FINDING_SOURCE, "finding-stop-1")
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as api:

        async def opened() -> bool:
            response = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
            return response.status_code == 200

        await eventually(opened)
        body = {"expected_version": 1, "reason": "r", "correction": "c"}
        path = f"/v1/capas/{capa_id}/correction"
        assert (await api.post(path, json=body, headers=bearer("owner"))).status_code == 200
        assert (await api.post(path, json=body, headers=bearer("owner"))).status_code == 409


async def test_sigterm_after_http_commands_exits_in_time(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    service = CapaProcess(capa_env(kafka_bootstrap, topic_prefix), tmp_path)
    service.start()
    try:
        await service.wait_ready()
        await answer_commands(service, kafka_bootstrap, topic_prefix)
        terminate_within_grace(service)
        assert "Traceback" not in service.log_tail(), service.log_tail()
    finally:
        service.kill()


def kafka_sh(command: str, data_dir: Path) -> None:
    env = {
        **os.environ,
        "KAFKA_PORT": str(THROWAWAY_PORT),
        "KAFKA_DATA_DIR": str(data_dir),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{THROWAWAY_PORT}",
        "KAFKA_STOP_TIMEOUT": "20",
        "KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",
    }
    subprocess.run(
        ["bash", str(REPO_ROOT / "deploy" / "kafka" / "kafka.sh"), command],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


class ThrowawayBroker:
    """A local broker (deploy/kafka/kafka.sh) on its own port and data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.bootstrap = f"127.0.0.1:{THROWAWAY_PORT}"

    def start(self) -> None:
        kafka_sh("start", self.data_dir)

    def stop(self) -> None:
        kafka_sh("stop", self.data_dir)


@pytest.fixture
def throwaway_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayBroker]:
    broker = ThrowawayBroker(tmp_path_factory.mktemp("kafka-throwaway"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()  # a no-op when the test stopped it already


async def test_sigterm_with_the_broker_gone_exits_in_time(
    throwaway_broker: ThrowawayBroker, tmp_path: Path
) -> None:
    bootstrap, prefix = throwaway_broker.bootstrap, "stop."
    await ensure_topics(bootstrap, load_topic_specs(prefix=prefix))
    service = CapaProcess(capa_env(bootstrap, prefix), tmp_path)
    service.start()
    try:
        await service.wait_ready()
        await answer_commands(service, bootstrap, prefix)
        throwaway_broker.stop()
        terminate_within_grace(service)
    finally:
        service.kill()
