"""The subject index serves what a full scan of the ledger served: a real worker chains events,
intake's index tails the ledger and checkpoint topics, and for every subject the indexed trail
equals the scanned one and verifies offline. The index resumes from its stored positions after
a restart, says 503 (not 404) while it is behind, and reads are limited apart from writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.intake.entrypoints.audit_routes import trail_lifespan
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.adapters.trail_index import TrailIndexStore
from services.intake.ledger.domain.trail import verify_trail
from services.intake.ledger.service import scanned_trail_document
from services.intake.ledger.settings import LedgerSettings
from services.intake.ledger.trails import IndexBehind, TrailIndex
from tests.integration.ledger.conftest import (
    LedgerWorker,
    chained_dossiers,
    produce,
    trail_app,
    wait_for_ledger,
)
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

PER_PARTITION = 40
CLOSE = "H56.01-260302-CLOSE"  # partition 1, offsets 2 and 3
FAR = "H56.01-260302-FAR"  # partition 0, offsets 1, 2 and 33: two segments of at most 10
TWO_CHAINS = "H56.01-260302-TWO"  # partitions 1 and 2 (a producer may choose the partition)
SUBJECTS = {
    0: {1: FAR, 2: FAR, 33: FAR},
    1: {2: CLOSE, 3: CLOSE, 20: TWO_CHAINS},
    2: {7: TWO_CHAINS},
}
LATER = "H56.01-260302-LATER"  # arrives after the index first stopped


@dataclass(frozen=True)
class Ledger:
    settings: LedgerSettings
    worker: LedgerWorker
    index_dir: Path


@pytest.fixture(scope="module")
async def ledger(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ledger]:
    """dossier.v1 with 40 events per partition, chained by a real worker that keeps running."""
    tmp = tmp_path_factory.mktemp("trail-index")
    values = {
        p: [dossier_received_value(p * 100 + i, SUBJECTS[p].get(i)) for i in range(PER_PARTITION)]
        for p in range(3)
    }
    async with chained_dossiers(
        kafka_bootstrap,
        tmp,
        values,
        checkpointed={p: PER_PARTITION for p in range(3)},
        keep_running=True,
        QMS_TRAIL_MAX_SEGMENT_ENTRIES="10",
        QMS_TRAIL_WAIT_MS="60000",  # a deadline for a busy machine, not a measurement
    ) as chained:
        yield Ledger(chained.settings, chained.worker, tmp / "index")


@asynccontextmanager
async def running_index(settings: LedgerSettings, directory: Path) -> AsyncIterator[TrailIndex]:
    index = TrailIndex(
        settings.model_copy(update={"trail_index_dir": directory}), load_verifier(settings)
    )
    index.start()
    try:
        yield index
    finally:
        await index.aclose()


async def assert_index_matches_scan(
    index: TrailIndex, settings: LedgerSettings, subjects: tuple[str, ...]
) -> None:
    verifier = load_verifier(settings)
    for subject in subjects:
        indexed = await index.document(subject)
        scanned = await scanned_trail_document(settings, subject, verifier)
        assert indexed["chains"], subject
        assert indexed == scanned, subject
        report = verify_trail(indexed, verifier)
        assert report.ok, (subject, report.problems)
        assert report.events == sum(len(c["events"]) for c in indexed["chains"])


async def test_the_indexed_trail_equals_the_scanned_one_and_verifies(ledger: Ledger) -> None:
    async with running_index(ledger.settings, ledger.index_dir) as index:
        await assert_index_matches_scan(index, ledger.settings, (FAR, CLOSE, TWO_CHAINS))
        far = await index.document(FAR)
        # Two segments of at most 10 entries, not one of 33: 1..2 and 33 lie far apart.
        assert [[e["seq"] for e in c["events"]] for c in far["chains"]] == [[1, 2], [33]]
        assert all(len(c["entries"]) <= 10 and c["checkpoint"] for c in far["chains"])
        two = await index.document(TWO_CHAINS)
        assert [c["chain"] for c in two["chains"]] == [
            ledger.settings.topic("dossier.v1/1"),
            ledger.settings.topic("dossier.v1/2"),
        ]
        assert (await index.document("H56.01-NO-SUCH-DOSSIER"))["chains"] == []

        started = time.perf_counter()
        await index.document(CLOSE)
        by_index = time.perf_counter() - started
        started = time.perf_counter()
        await scanned_trail_document(ledger.settings, CLOSE, load_verifier(ledger.settings))
        by_scan = time.perf_counter() - started
        print(
            f"\ntrail of one subject, ledger of {3 * PER_PARTITION} entries: "
            f"index {by_index * 1000:.1f} ms, full scan {by_scan * 1000:.1f} ms"
        )


async def test_a_restarted_index_resumes_where_it_stood(ledger: Ledger, tmp_path: Path) -> None:
    directory = tmp_path / "index"
    async with running_index(ledger.settings, directory) as index:
        assert (await index.document(CLOSE))["chains"]
        first_ends = dict(index.tailer.indexed)
    assert sum(first_ends.values()) >= 3 * PER_PARTITION

    # More events while the index is down: the trail of CLOSE grows, LATER is new.
    more = {1: [dossier_received_value(190 + i, (CLOSE, LATER)[i % 2]) for i in range(4)]}
    await produce(
        ledger.settings.kafka_bootstrap_servers, ledger.settings.topic("dossier.v1"), more
    )
    await wait_for_ledger(
        ledger.settings,
        ledger.worker,
        3 * PER_PARTITION + 4,
        {ledger.settings.topic("dossier.v1/1"): PER_PARTITION + 4},  # every 4: nothing after
    )

    async with running_index(ledger.settings, directory) as index:
        later = await index.document(LATER)
        assert index.tailer.resumed_from == first_ends  # not from the start of the topics
        assert sum(len(c["events"]) for c in later["chains"]) == 2
        grown = await index.document(CLOSE)
        assert sum(len(c["events"]) for c in grown["chains"]) == 4
        await assert_index_matches_scan(index, ledger.settings, (FAR, CLOSE, TWO_CHAINS, LATER))


async def test_an_index_of_recreated_topics_is_rebuilt(ledger: Ledger, tmp_path: Path) -> None:
    # An index that read further than the topics now reach describes topics since deleted.
    stale = TrailIndexStore(tmp_path)
    stale.apply(
        ledger.settings.topic("ledger.v1"), [], {(ledger.settings.topic("ledger.v1"), 0): 10**6}
    )
    stale.close()
    async with running_index(ledger.settings, tmp_path) as index:
        await assert_index_matches_scan(index, ledger.settings, (FAR, CLOSE, TWO_CHAINS))
        assert all(offset == 0 for offset in index.tailer.resumed_from.values())


async def test_a_subject_is_not_reported_missing_while_the_index_is_behind(
    ledger: Ledger, tmp_path: Path
) -> None:
    settings = ledger.settings.model_copy(update={"trail_wait_ms": 0})
    index = TrailIndex(settings.model_copy(update={"trail_index_dir": tmp_path}), None)
    try:
        # Never started: it has not read the ledger.
        with pytest.raises(IndexBehind):
            await index.document(CLOSE)
        # Read the ledger once, yet behind its end as last seen (10 records).
        ledger_partition = (settings.topic("ledger.v1"), 0)
        tailer = index.tailer
        tailer.ready = True
        tailer.indexed = {ledger_partition: 5}
        tailer.ends = {ledger_partition: 15}
        with pytest.raises(IndexBehind) as behind:
            await index.document("H56.01-NOT-YET-INDEXED")
        assert behind.value.lag == 10
        tailer.indexed = {ledger_partition: 15}  # caught up: now a miss is a miss
        assert (await index.document("H56.01-NOT-YET-INDEXED"))["chains"] == []
    finally:
        await index.aclose()


async def test_the_endpoint_limits_reads_per_caller_and_answers_503_while_behind(
    ledger: Ledger, tmp_path: Path
) -> None:
    settings = ledger.settings.model_copy(
        update={"trail_index_dir": tmp_path, "trail_read_burst": 2, "trail_reads_per_second": 0.01}
    )
    app = trail_app(settings)
    # Platform users (the bare app has no publishers): two national readers.
    me = {"Authorization": "Bearer dev-national-reader-token"}
    other = {"Authorization": "Bearer dev-viewer-token"}
    transport = httpx.ASGITransport(app=app)
    async with (
        trail_lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://intake") as client,
    ):
        first = await client.get(f"/v1/audit/trail/{CLOSE}", headers=me)
        missing = await client.get("/v1/audit/trail/H56.01-NO-SUCH-DOSSIER", headers=me)
        limited = await client.get(f"/v1/audit/trail/{CLOSE}", headers=me)
        someone_else = await client.get(f"/v1/audit/trail/{CLOSE}", headers=other)
    assert first.status_code == 200, first.text
    assert verify_trail(first.json(), load_verifier(settings)).ok
    assert missing.status_code == 404
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert int(limited.headers["Retry-After"]) >= 1
    assert "rate limit" in limited.json()["detail"]
    assert someone_else.status_code == 200  # a bucket per caller

    # Without a running index (an app whose lifespan did not start it): 503, never 404.
    idle = trail_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=idle), base_url="http://intake"
    ) as client:
        unavailable = await client.get(f"/v1/audit/trail/{CLOSE}", headers=me)
    assert unavailable.status_code == 503
    assert "Retry-After" in unavailable.headers
