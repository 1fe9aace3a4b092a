"""A crashed and restarted ledger worker continues every chain gap-free, without forks:
killed between batches, killed in the middle of a batch, or stopped by a failing broker."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.intake.ledger.adapters.kafka import read_checkpoints, read_ledger
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.service import verify_topics
from tests.integration.ledger.conftest import (
    LedgerWorker,
    ledger_env,
    produce,
    set_topic_config,
    settings_from,
    wait_for_ledger,
)
from tests.integration.ledger.dying_worker import EXIT_CODE
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration


async def test_crash_restart_continues_the_chains(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    dossiers, complaints = settings.topic("dossier.v1"), settings.topic("complaint.v1")
    first = {p: [dossier_received_value(p * 100 + i) for i in range(5)] for p in range(3)}
    await produce(kafka_bootstrap, dossiers, first)
    await produce(kafka_bootstrap, complaints, {0: [b'{"not": "an intake event"}', b"not json"]})

    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    await wait_for_ledger(settings, worker, 17)
    worker.stop(signal.SIGKILL)  # a crash: offsets may not be committed, records come again

    second = {p: [dossier_received_value(p * 100 + i) for i in range(5, 10)] for p in range(3)}
    await produce(kafka_bootstrap, dossiers, second)
    worker.start()
    await wait_for_ledger(settings, worker, 32)
    assert worker.stop() == 0, worker.log_tail()

    entries, unreadable = await read_ledger(kafka_bootstrap, settings.topic(LEDGER_TOPIC))
    assert not unreadable
    by_chain: dict[str, list[int]] = {}
    hashes: dict[tuple[str, int], set[bytes]] = {}
    for entry in entries:
        by_chain.setdefault(entry.chain, []).append(entry.seq)
        hashes.setdefault((entry.chain, entry.seq), set()).add(entry.hash)
    for partition in range(3):
        seqs = by_chain[f"{dossiers}/{partition}"]
        assert sorted(set(seqs)) == list(range(10)), seqs  # gap-free across the restart
    assert sorted(set(by_chain[f"{complaints}/0"])) == [0, 1]
    assert all(len(found) == 1 for found in hashes.values()), "a seq got two different entries"

    result = await verify_topics(
        settings, load_verifier(settings), topics=["dossier.v1", "complaint.v1"]
    )
    assert result.ok, result.first_problem
    duplicates = Counter({r.chain: r.duplicates_ignored for r in result.chains})
    print(f"exact duplicate entries after the crash (tolerated): {dict(duplicates)}")
    skipped = worker.log_path.read_text(errors="replace").count("skip redelivered")
    print(f"batches with redelivered records skipped by the restarted worker: {skipped}")


async def test_a_worker_killed_mid_batch_is_redone_without_a_fork(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    dossiers = settings.topic("dossier.v1")
    await produce(
        kafka_bootstrap,
        dossiers,
        {p: [dossier_received_value(p * 100 + i) for i in range(6)] for p in range(3)},
    )

    dying = LedgerWorker(
        env, tmp_path / "dying.log", module="tests.integration.ledger.dying_worker"
    )
    worker_factory.append(dying)
    dying.start()
    assert dying.wait_exit() == EXIT_CODE, dying.log_tail()
    landed, _ = await read_ledger(kafka_bootstrap, settings.topic(LEDGER_TOPIC))
    notes, _ = await read_checkpoints(kafka_bootstrap, settings.topic(LEDGER_CHECKPOINTS_TOPIC))
    assert 0 < len(landed) < 18 and not notes  # part of a batch reached the ledger, no more

    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    await wait_for_ledger(settings, worker, 18, {f"{dossiers}/{p}": 4 for p in range(3)})
    assert worker.stop() == 0, worker.log_tail()

    entries, unreadable = await read_ledger(kafka_bootstrap, settings.topic(LEDGER_TOPIC))
    assert not unreadable
    assert set(landed) <= set(entries)
    hashes: dict[tuple[str, int], set[bytes]] = {}
    for entry in entries:
        hashes.setdefault((entry.chain, entry.seq), set()).add(entry.hash)
    assert sorted(hashes) == [(f"{dossiers}/{p}", seq) for p in range(3) for seq in range(6)]
    assert all(len(found) == 1 for found in hashes.values()), "a seq got two different entries"
    result = await verify_topics(settings, load_verifier(settings), topics=["dossier.v1"])
    assert result.ok, result.first_problem
    # The restarted worker redid the whole batch from the unmoved heads: what had landed
    # came again, byte for byte, and nothing else did.
    assert sum(report.duplicates_ignored for report in result.chains) == len(landed)


async def test_a_failing_broker_stops_the_worker_instead_of_skipping(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    dossiers, ledger_topic = settings.topic("dossier.v1"), settings.topic(LEDGER_TOPIC)
    await produce(kafka_bootstrap, dossiers, {p: [dossier_received_value(p)] for p in range(3)})
    # A real broker refusal: every ledger entry is now too large for its topic.
    await set_topic_config(kafka_bootstrap, ledger_topic, {"max.message.bytes": "100"})

    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    assert worker.wait_exit() != 0, worker.log_tail()
    assert "ledger stopped at a batch" in worker.log_path.read_text(errors="replace")
    assert (await read_ledger(kafka_bootstrap, ledger_topic))[0] == []

    await set_topic_config(kafka_bootstrap, ledger_topic, {"max.message.bytes": "1048588"})
    await produce(
        kafka_bootstrap, dossiers, {p: [dossier_received_value(10 + p)] for p in range(3)}
    )
    worker.start()
    await wait_for_ledger(settings, worker, 6)
    assert worker.stop() == 0, worker.log_tail()
    entries, _ = await read_ledger(kafka_bootstrap, ledger_topic)
    assert sorted((entry.chain, entry.seq, entry.offset) for entry in entries) == [
        (f"{dossiers}/{p}", seq, seq) for p in range(3) for seq in range(2)
    ]  # the refused records were retried, not skipped
    result = await verify_topics(settings, load_verifier(settings), topics=["dossier.v1"])
    assert result.ok, result.first_problem
