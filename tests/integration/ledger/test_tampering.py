"""Must show: tampering caught. The ledger agent chains a topic; a copy with one record altered,
one dropped and two swapped fails verification naming the first broken entry; the untouched
topic passes. Also: a subject's trail from GET /v1/audit/trail/{subject}, checked offline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from services.common.topics import TopicSpec, ensure_topics
from services.common.users import DEV_NATIONAL_READER_TOKEN
from services.intake.entrypoints.audit_routes import trail_lifespan
from services.intake.ledger.adapters.checkpoint_file import read_notes
from services.intake.ledger.adapters.kafka import read_topics
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.cli import register_audit_commands
from services.intake.ledger.domain.trail import verify_trail
from services.intake.ledger.domain.verify import Breakage
from services.intake.ledger.service import verify_topics
from services.intake.ledger.settings import DEV_PUBLIC_KEY_FILE, LedgerSettings
from tests.integration.ledger.conftest import (
    ChainedLedger,
    chained_dossiers,
    intake_client,
    produce,
    trail_app,
)
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

PER_PARTITION = 8
NATIONAL_READER = {"Authorization": f"Bearer {DEV_NATIONAL_READER_TOKEN}"}
SUBJECT = "H56.01-260302-TRAIL"
CHECKPOINT_FILE = "checkpoints.jsonl"  # in the module's work folder


@pytest.fixture(scope="module")
async def chained(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ChainedLedger]:
    """dossier.v1 with 8 events per partition, chained and checkpointed by a real worker."""
    tmp = tmp_path_factory.mktemp("ledger")
    values = {
        p: [
            dossier_received_value(p * 100 + i, SUBJECT if i in (1, 6) and p == 2 else None)
            for i in range(PER_PARTITION)
        ]
        for p in range(3)
    }
    async with chained_dossiers(
        kafka_bootstrap,
        tmp,
        values,
        checkpointed={p: PER_PARTITION for p in range(3)},
        QMS_LEDGER_CHECKPOINT_FILE=str(tmp / CHECKPOINT_FILE),
    ) as chained:
        yield chained


async def make_tampered_copy(settings: LedgerSettings, name: str) -> None:
    """Copy dossier.v1 by partition: p0 #3 altered, p1 #2 dropped, p2 #5 and #6 swapped."""
    bootstrap = settings.kafka_bootstrap_servers
    await ensure_topics(bootstrap, [TopicSpec(name, 3, 1, {}, "tampered copy")])
    original = await read_topics(bootstrap, [settings.topic("dossier.v1")])
    values = {p: [r.value for r in original[(settings.topic("dossier.v1"), p)]] for p in range(3)}
    event = json.loads(values[0][3])
    event["data"]["online_level"] = 2  # "online level 4" becomes 2: a figure in a report changes
    values[0][3] = json.dumps(event).encode()
    del values[1][2]
    values[2][5], values[2][6] = values[2][6], values[2][5]
    await produce(bootstrap, name, values)


def audit_cli(env: dict[str, str], *args: str) -> Result:
    app = typer.Typer()
    register_audit_commands(app)
    return CliRunner().invoke(app, list(args), env=env)


async def test_the_untouched_topic_verifies(chained: ChainedLedger) -> None:
    verifier = load_verifier(chained.settings)
    result = await verify_topics(chained.settings, verifier, topics=["dossier.v1"])
    assert result.ok, result.first_problem
    assert [r.entries for r in result.chains] == [PER_PARTITION] * 3
    assert all(r.anchored_size == PER_PARTITION for r in result.chains)

    anchors = read_notes(chained.workdir / CHECKPOINT_FILE)
    assert {n.checkpoint.size for n in anchors} >= {4, 8}
    cli = await asyncio.to_thread(
        audit_cli,
        chained.env,
        "verify",
        "--topic",
        "dossier.v1",
        "--checkpoint-file",
        str(chained.workdir / CHECKPOINT_FILE),
        "--public-key",
        str(DEV_PUBLIC_KEY_FILE),
    )
    assert cli.exit_code == 0, cli.output
    assert "OK: 3 chain(s) verified" in cli.output


async def test_a_tampered_copy_fails_naming_the_first_broken_entry(chained: ChainedLedger) -> None:
    settings = chained.settings
    copy = settings.topic("dossier.tampered-copy.v1")
    await make_tampered_copy(settings, copy)

    result = await verify_topics(
        settings, load_verifier(settings), topics=["dossier.v1"], events_topic=copy
    )
    assert not result.ok
    chain = settings.topic("dossier.v1")
    found = {r.chain: (r.problem.kind, r.problem.seq) for r in result.chains if r.problem}
    assert found == {
        f"{chain}/0": (Breakage.ALTERED_EVENT, 3),
        f"{chain}/1": (Breakage.DROPPED_EVENT, 2),
        f"{chain}/2": (Breakage.REORDERED_EVENTS, 5),
    }
    assert result.first_problem is not None
    assert result.first_problem.startswith(f"{chain}/0 seq 3 (offset 3): altered event")

    cli = await asyncio.to_thread(
        audit_cli, chained.env, "verify", "--topic", "dossier.v1", "--events-topic", copy
    )
    assert cli.exit_code == 1, cli.output
    assert f"FAILED: first broken entry: {chain}/0 seq 3 (offset 3): altered event" in cli.output
    assert f"{chain}/1 seq 2 (offset 2): dropped event" in cli.output
    assert f"{chain}/2 seq 5 (offset 5): reordered events" in cli.output


async def test_a_subject_trail_is_verifiable_offline(
    chained: ChainedLedger, tmp_path: Path
) -> None:
    # The first read waits until the subject index has read the ledger (a deadline).
    app = trail_app(chained.settings.model_copy(update={"trail_wait_ms": 60_000}))
    transport = httpx.ASGITransport(app=app)
    async with (
        trail_lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://intake") as client,
    ):
        response = await client.get(f"/v1/audit/trail/{SUBJECT}", headers=NATIONAL_READER)
        missing = await client.get(
            "/v1/audit/trail/H56.01-NO-SUCH-DOSSIER", headers=NATIONAL_READER
        )
        bad = await client.get("/v1/audit/trail/%20bad%20subject", headers=NATIONAL_READER)
    assert response.status_code == 200, response.text
    assert missing.status_code == 404
    assert bad.status_code == 422
    document = response.json()
    (chain,) = document["chains"]
    assert [e["seq"] for e in chain["events"]] == [1, 6]
    assert chain["checkpoint"] is not None

    report = verify_trail(document, load_verifier(chained.settings))
    assert report.ok and report.anchored == 2, report

    saved = tmp_path / "trail.json"
    saved.write_text(response.text)
    args = ["verify", "--trail-file", str(saved), "--public-key", str(DEV_PUBLIC_KEY_FILE)]
    ok = await asyncio.to_thread(audit_cli, chained.env, *args)
    assert ok.exit_code == 0, ok.output

    document["chains"][0]["events"][1]["event"]["agencycode"] = "H56.02"
    saved.write_text(json.dumps(document))
    tampered = await asyncio.to_thread(audit_cli, chained.env, *args)
    assert tampered.exit_code == 1
    assert "altered event" in tampered.output


async def test_subject_proof_in_verify(chained: ChainedLedger) -> None:
    cli = await asyncio.to_thread(
        audit_cli, chained.env, "verify", "--topic", "dossier.v1", "--subject", SUBJECT
    )
    assert cli.exit_code == 0, cli.output
    assert cli.output.count(f"subject {SUBJECT}:") == 2
    assert "verified, anchored" in cli.output


async def test_the_intake_app_serves_the_trail(
    chained: ChainedLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QMS_TRAIL_WAIT_MS", "60000")  # a deadline for the index's first read
    async with intake_client(chained.settings, tmp_path) as client:
        response = await client.get(f"/v1/audit/trail/{SUBJECT}", headers=NATIONAL_READER)
        missing = await client.get(
            "/v1/audit/trail/H56.01-NO-SUCH-DOSSIER", headers=NATIONAL_READER
        )
    assert response.status_code == 200, response.text
    assert verify_trail(response.json(), load_verifier(chained.settings)).ok
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
