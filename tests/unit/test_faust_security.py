"""The CAPA faust app takes its broker credentials and its internal topics' replicas from the
shared settings (never a hard-coded 1), and its consumer-lag clients the same security; the
metrics and ledger workers, on aiokafka alone, give the same security to every client they
build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import pytest

import services.capa.entrypoints.worker as capa_worker
from services.capa.config import CapaSettings
from services.capa.entrypoints.worker import build_streams
from services.common.consumer_lag import ConsumerLagMonitor
from services.intake.ledger.adapters.keys import load_signer
from services.intake.ledger.adapters.publisher import LedgerPublisher
from services.intake.ledger.settings import LedgerSettings
from services.intake.ledger.worker import LedgerWorker
from services.metrics.config import MetricsSettings
from services.metrics.entrypoints.consumer import MetricsWorker

pytestmark = pytest.mark.unit

SECURED = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "qms-app",
    "KAFKA_SASL_PASSWORD": "pw",
    "QMS_TOPIC_REPLICATION_FACTOR": 3,
    "QMS_TOPIC_PREFIX": "u.",
}


class _NoRows:
    """A row sink the test never writes to (the app is only declared)."""

    async def ainsert_batch(self, rows: Any, token: str) -> int:
        return 0

    async def is_refusal(self, error: Exception) -> bool:
        return False


def assert_secured(app: faust.App) -> None:
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.username == "qms-app"
    assert app.conf.topic_replication_factor == 3


@pytest.fixture
def lag_monitors(monkeypatch: pytest.MonkeyPatch) -> list[ConsumerLagMonitor]:
    """The lag monitors the app builders install (their admin client and consumer options)."""
    installed: list[ConsumerLagMonitor] = []

    def record(app: Any, monitor: ConsumerLagMonitor, interval_s: float) -> None:
        installed.append(monitor)

    monkeypatch.setattr(capa_worker, "install_lag_monitor", record)
    return installed


def assert_lag_secured(monitors: list[ConsumerLagMonitor]) -> None:
    (monitor,) = monitors
    assert_options_secured(monitor)


def assert_options_secured(monitor: ConsumerLagMonitor) -> None:
    assert monitor.client_options["security_protocol"] == "SASL_SSL"
    assert monitor.client_options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert monitor.client_options["sasl_plain_username"] == "qms-app"
    assert monitor.client_options["ssl_context"] is not None


def assert_client_secured(client: Any) -> None:
    """An aiokafka client (of a consumer or a producer), built but never connected."""
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert client._sasl_plain_username == "qms-app"
    assert client._ssl_context is not None


def test_the_capa_worker_and_its_internal_topics(
    tmp_path: Path, lag_monitors: list[ConsumerLagMonitor]
) -> None:
    settings = CapaSettings.model_validate({**SECURED, "QMS_CAPA_STATE_DIR": str(tmp_path)})
    app = build_streams(settings).app
    assert_secured(app)
    # The changelogs and the sightings topic ask for no replica count of their own: they
    # take the app's (faust's Topic.replicas None → conf.topic_replication_factor).
    for table in app.tables.values():
        assert table.changelog_topic.replicas in (None, 3), table.name
    assert_lag_secured(lag_monitors)


async def test_the_ledger_worker(tmp_path: Path) -> None:
    settings = LedgerSettings.model_validate({**SECURED, "QMS_DATA_DIR": str(tmp_path)})
    worker = LedgerWorker(settings, load_signer(settings), LedgerPublisher.from_settings(settings))
    assert_client_secured(worker.consumer._client)  # the group consumer
    assert_client_secured(worker.heads_producer.client)
    assert worker.consumer._group_id == "u.ledger"
    assert worker.heads.topic == "u.ledger-ledger-heads-changelog"
    assert worker.heads.client_options["security_protocol"] == "SASL_SSL"
    assert worker.publisher.security["security_protocol"] == "SASL_SSL"
    assert_options_secured(worker.lag)


async def test_the_metrics_worker(tmp_path: Path) -> None:
    settings = MetricsSettings.model_validate(
        {**SECURED, "QMS_DATA_DIR": str(tmp_path), "QMS_METRICS_NONCONFORMITY_CHECK_INTERVAL_S": 0}
    )
    worker = MetricsWorker(settings, _NoRows())
    assert_client_secured(worker.consumer._client)  # the group consumer
    assert_client_secured(worker.dead_letter_producer.client)
    assert_client_secured(worker.capa_commands._producer.client)
    assert worker.consumer._group_id == "u.metrics"
    assert worker.capa_commands.topic == "u.capa.commands.v1"
    assert_options_secured(worker.lag)
    assert [t.name for t in worker.timers] == ["consumer-lag-u.metrics"]
