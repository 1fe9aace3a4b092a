"""Intake and the ledger worker over a SASL/SCRAM + TLS listener of a real broker.

The broker is the test's own (deploy/kafka/kafka.sh with a SASL_SSL listener beside the
PLAINTEXT one, which the test's helpers and topic creation use); its certificate comes from a
throwaway CA made here. A wrong password stops the ledger worker with one line.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from services.common.kafka_security import KafkaAccessError
from services.common.settings import REPO_ROOT
from services.common.topics import ensure_topics, load_topic_specs
from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app
from services.intake.entrypoints.examples import EXAMPLE_EVENTS
from services.intake.ledger.settings import LedgerSettings
from tests.integration.ledger.conftest import LedgerWorker, ledger_env, wait_for_ledger
from tests.support import ThrowawayBroker, free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "qms-services", "scram-secret-of-the-test"
MECHANISM = "SCRAM-SHA-256"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_broker_cert(folder: Path) -> tuple[Path, Path]:
    """A CA (its certificate: the clients' KAFKA_SSL_CAFILE) and a broker key + chain (PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("qms-test-ca"))
        .issuer_name(_name("qms-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file = folder / "ca.crt"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    keystore = folder / "broker.pem"
    keystore.write_bytes(
        broker_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + broker_cert.public_bytes(pem)
        + ca_cert.public_bytes(pem)
    )
    return ca_file, keystore


class SecuredBroker:
    def __init__(self, folder: Path) -> None:
        self.ca_file, keystore = make_ca_and_broker_cert(folder)
        self.secured_port = free_port()
        extra = folder / "secured.properties"
        self.broker = ThrowawayBroker(
            folder / "kafka",
            env={
                "KAFKA_EXTRA_PROPERTIES": str(extra),
                "KAFKA_SCRAM_USERS": f"{MECHANISM}=[name={USER},password={PASSWORD}]",
            },
        )
        plain, controller = self.broker.port, self.broker.controller_port
        extra.write_text(
            f"listeners=PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},"
            f"SASL_SSL://127.0.0.1:{self.secured_port}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{plain},"
            f"SASL_SSL://127.0.0.1:{self.secured_port}\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SASL_SSL:SASL_SSL\n"
            f"sasl.enabled.mechanisms={MECHANISM}\n"
            f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
            "ssl.keystore.type=PEM\n"
            f"ssl.keystore.location={keystore}\n",
            encoding="utf-8",
        )
        self.plain_bootstrap = self.broker.bootstrap
        self.secured_bootstrap = f"127.0.0.1:{self.secured_port}"

    def client_env(self, password: str = PASSWORD) -> dict[str, str]:
        """What a service is given to use the secured listener."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.secured_bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": MECHANISM,
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": password,
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    broker = SecuredBroker(tmp_path_factory.mktemp("secured-kafka"))
    broker.broker.start()
    try:
        yield broker
    finally:
        broker.broker.stop()


@pytest.fixture
async def prefix(secured: SecuredBroker) -> AsyncIterator[str]:
    name = f"sec{uuid.uuid4().hex[:8]}."
    await ensure_topics(secured.plain_bootstrap, load_topic_specs(prefix=name))
    yield name


async def test_intake_publishes_and_the_ledger_worker_chains_over_sasl_ssl(
    secured: SecuredBroker, prefix: str, tmp_path: Path
) -> None:
    env = {**secured.client_env(), "QMS_ENV": "development", "QMS_TOPIC_PREFIX": prefix}
    app = create_app_from(env, tmp_path)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        ) as client:
            example = dict(EXAMPLE_EVENTS["dossier.received"], id=f"sec-{uuid.uuid4()}")
            response = await client.post(
                "/v1/events",
                json=example,
                headers={"Authorization": "Bearer dev-demo-province-token"},
            )
            assert response.status_code == 202, response.text
    finally:
        await lifespan.__aexit__(None, None, None)

    worker_env = ledger_env(prefix, secured.secured_bootstrap, tmp_path / "ledger")
    worker = LedgerWorker({**worker_env, **secured.client_env()}, tmp_path / "ledger.log")
    worker.start()
    try:
        # Read back over the PLAINTEXT listener: the entry exists, so the worker consumed
        # the event and produced its ledger entry over SASL_SSL.
        reader = LedgerSettings.model_validate(
            {"KAFKA_BOOTSTRAP_SERVERS": secured.plain_bootstrap, "QMS_TOPIC_PREFIX": prefix}
        )
        await wait_for_ledger(reader, worker, entries=1)
    finally:
        worker.stop()


def create_app_from(env: dict[str, str], data_dir: Path) -> FastAPI:
    return create_app(IntakeSettings.model_validate({**env, "QMS_DATA_DIR": str(data_dir)}))


def test_a_wrong_password_stops_the_ledger_worker_with_one_line(
    secured: SecuredBroker, tmp_path: Path
) -> None:
    env = {
        **ledger_env(f"sec{uuid.uuid4().hex[:8]}.", secured.secured_bootstrap, tmp_path),
        **secured.client_env(password="not-the-password"),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "services.intake.ledger.worker"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode != 0
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("ledger worker: cannot connect to Kafka at 127.0.0.1:")
    assert f"as user '{USER}' ({MECHANISM})" in last
    assert "Traceback" not in finished.stderr


async def test_a_wrong_password_stops_intake_at_start_up(
    secured: SecuredBroker, prefix: str, tmp_path: Path
) -> None:
    env = {
        **secured.client_env(password="not-the-password"),
        "QMS_ENV": "development",
        "QMS_TOPIC_PREFIX": prefix,
    }
    app = create_app_from(env, tmp_path)
    with pytest.raises(KafkaAccessError, match="check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD"):
        await app.router.lifespan_context(app).__aenter__()
