"""Inclusion and consistency proofs served by intake, checked offline (real broker, real worker).

A real ledger worker chains twelve dossier events (checkpoints every 4 entries, each also
appended to the anchor file); intake serves the subject's trail with inclusion proofs and,
asked with `?witness=`, the consistency proof with the anchor's last checkpoint; the
consistency endpoint serves the proof between two checkpoints. Each is checked with the
public key alone, and a mutated proof is refused.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.common.topics import delete_topics_under, ensure_topics, load_topic_specs
from services.common.users import DEV_NATIONAL_READER_TOKEN
from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app
from services.intake.ledger.adapters.checkpoint_file import read_notes
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.domain.trail import verify_trail
from services.intake.ledger.domain.verify import Breakage
from services.intake.ledger.domain.witness import (
    check_consistency_document,
    check_witnessed,
    last_witnessed,
    witness_sizes,
)
from services.intake.ledger.settings import LedgerSettings
from tests.integration.ledger.conftest import (
    LedgerWorker,
    ledger_env,
    produce,
    settings_from,
    wait_for_ledger,
)
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

SUBJECT = "H56.01-260302-PROVEN"
EVENTS = 12
AUTH = {"Authorization": f"Bearer {DEV_NATIONAL_READER_TOKEN}"}


@dataclass(frozen=True)
class Ledger:
    settings: LedgerSettings
    anchor: Path

    @property
    def chain(self) -> str:
        return f"{self.settings.topic('dossier.v1')}/0"


@pytest.fixture(scope="module")
async def ledger(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ledger]:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, load_topic_specs(prefix=prefix))
    tmp = tmp_path_factory.mktemp("proofs")
    anchor = tmp / "anchor.jsonl"
    env = ledger_env(prefix, kafka_bootstrap, tmp / "data", QMS_LEDGER_CHECKPOINT_FILE=str(anchor))
    settings = settings_from(env)
    values = [
        dossier_received_value(n, SUBJECT if n in (1, 6, 10) else None) for n in range(EVENTS)
    ]
    await produce(kafka_bootstrap, settings.topic("dossier.v1"), {0: values})
    worker = LedgerWorker(env, tmp / "worker.log")
    worker.start()
    chain = f"{settings.topic('dossier.v1')}/0"
    try:
        await wait_for_ledger(settings, worker, EVENTS, {chain: 12})
    finally:
        assert worker.stop() == 0, worker.log_tail()
    yield Ledger(settings, anchor)
    await delete_topics_under(kafka_bootstrap, prefix)


@pytest.fixture
async def intake(ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings.model_validate(
        {
            "KAFKA_BOOTSTRAP_SERVERS": ledger.settings.kafka_bootstrap_servers,
            "QMS_TOPIC_PREFIX": ledger.settings.topic_prefix,
        }
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client,
    ):
        yield client


async def test_a_trail_with_inclusion_proofs_extends_the_witnessed_checkpoint(
    intake: httpx.AsyncClient, ledger: Ledger
) -> None:
    verifier = load_verifier(ledger.settings)
    witnessed = {
        chain: note
        for chain, note in last_witnessed(read_notes(ledger.anchor)).items()
        if chain == ledger.chain
    }
    (note,) = witnessed.values()
    assert note.checkpoint.size == 12
    # An older witness (size 8): the trail's checkpoint must extend it too.
    older = {ledger.chain: next(n for n in read_notes(ledger.anchor) if n.checkpoint.size == 8)}
    for witness in (witnessed, older):
        response = await intake.get(
            f"/v1/audit/trail/{SUBJECT}",
            params={"witness": witness_sizes(witness)},
            headers=AUTH,
        )
        assert response.status_code == 200, response.text
        document = response.json()
        assert all("inclusion" in e for c in document["chains"] for e in c["events"])
        assert verify_trail(document, verifier).ok
        report = check_witnessed(document, witness, verifier)
        assert report.ok and report.witnessed, report.problems
    document["chains"][0]["consistency"]["proof"][0] = base64.b64encode(bytes(32)).decode()
    (problem,) = check_witnessed(document, older, verifier).problems
    assert problem.kind is Breakage.NOT_WITNESSED


async def test_the_consistency_endpoint_proves_one_checkpoint_extends_another(
    intake: httpx.AsyncClient, ledger: Ledger
) -> None:
    verifier = load_verifier(ledger.settings)
    url = f"/v1/audit/consistency/{ledger.chain}"
    response = await intake.get(url, params={"first": 4, "second": 12}, headers=AUTH)
    assert response.status_code == 200, response.text
    document = response.json()
    assert check_consistency_document(document, verifier) is None
    document["proof"][-1] = base64.b64encode(bytes(32)).decode()
    problem = check_consistency_document(document, verifier)
    assert problem is not None and problem.kind is Breakage.BAD_PROOF
    unauthenticated = await intake.get(url, params={"first": 4, "second": 12})
    assert unauthenticated.status_code == 401
    backwards = await intake.get(url, params={"first": 8, "second": 4}, headers=AUTH)
    assert backwards.status_code == 422 and "second" in backwards.text
    beyond = await intake.get(url, params={"first": 4, "second": 400}, headers=AUTH)
    assert beyond.status_code == 404
    unknown = await intake.get(
        "/v1/audit/consistency/no.such.v1/7", params={"first": 1, "second": 2}, headers=AUTH
    )
    assert unknown.status_code == 404 and "chain-too-short" in unknown.json()["type"]
    bad_witness = await intake.get(
        f"/v1/audit/trail/{SUBJECT}", params={"witness": "nochain"}, headers=AUTH
    )
    assert bad_witness.status_code == 422 and "witness" in bad_witness.text
