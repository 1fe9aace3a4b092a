"""The ingestion use case with fakes: nothing acknowledged that is neither stored nor
dead-lettered, whatever fails on the way (a record, the store, the dead-letter produce)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

import pytest

from schemas.binding import to_kafka_record
from services.common.backoff import Backoff
from services.common.deadletter import RecordPosition
from services.metrics.domain.report_html import ReportData, bar_chart, render_report
from services.metrics.domain.rows import TABLE_COLUMNS, Rejected, Row, map_record
from services.metrics.entrypoints.consumer import ingest_until_done
from services.metrics.service_layer.ingestion import Ingestor, Record
from tests.poison import poison_records
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit
ICT = timezone(timedelta(hours=7))
TOPIC = "qms.dossier.v1"
ID = TABLE_COLUMNS["events"].index("id")


class FakeStore:
    """A store that keeps the event ids it stored; it can be down, or refuse given ids."""

    def __init__(self, *, down_for: int = 0, refuses: frozenset[str] = frozenset()) -> None:
        self.down_for = down_for
        self.refuses = refuses
        self.stored: Counter[str] = Counter()
        self.tokens: list[str] = []
        self.attempts: list[int] = []  # size of every insert tried
        self.log: list[str] = []

    async def ainsert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int:
        ids = [row[ID] for row in rows["events"]]
        self.attempts.append(len(ids))
        if self.down_for:
            self.down_for -= 1
            self.log.append("insert failed")
            raise ConnectionError("clickhouse down")
        if refused := self.refuses.intersection(ids):
            raise ValueError(f"cannot store {sorted(refused)}")
        self.tokens.append(token)
        self.stored.update(ids)
        self.log.append("inserted")
        return len(ids)

    async def is_refusal(self, error: Exception) -> bool:
        return not isinstance(error, ConnectionError)  # the probe fails only while down


class FakeDeadLetters:
    def __init__(self, log: list[str], failures: int = 0) -> None:
        self.log, self.failures = log, failures
        self.sent: list[Rejected] = []

    async def send(self, rejected: Rejected) -> None:
        if self.failures:
            self.failures -= 1
            self.log.append("dead-letter failed")
            raise ConnectionError("kafka down")
        self.sent.append(rejected)
        self.log.append("dead-lettered")


def dossier(n: int) -> Record:
    at = datetime(2026, 1, 5, tzinfo=ICT) + timedelta(minutes=n)
    e = f.received(f"D{n}", "H56.01", at, at + timedelta(days=5)).model_copy(
        update={"id": f"evt-{n}"}
    )
    return Record(RecordPosition(TOPIC, 0, n), f"D{n}".encode(), to_kafka_record(e).value)


def ordinary(count: int, start: int = 0) -> list[Record]:
    return [dossier(n) for n in range(start, start + count)]


def ingestor(store: FakeStore, letters: FakeDeadLetters, **kwargs: object) -> Ingestor:
    return Ingestor(store, letters, initial_backoff_s=0.001, max_backoff_s=0.002, **kwargs)  # type: ignore[arg-type]


def records() -> list[Record]:
    return [dossier(1), Record(RecordPosition(TOPIC, 0, 2), b"x", b"garbage")]


async def test_insert_is_retried_and_completes_before_dead_letters() -> None:
    store = FakeStore(down_for=2)
    letters = FakeDeadLetters(store.log)
    ing = ingestor(store, letters)
    await ing.ingest(records())
    assert store.log == ["insert failed", "insert failed", "inserted", "dead-lettered"]
    assert [r.position.offset for r in letters.sent] == [2]
    assert (ing.ingested, ing.rejected) == (1, 1)


async def test_without_retry_the_failure_reaches_the_caller_so_nothing_is_acked() -> None:
    store = FakeStore(down_for=1)
    with pytest.raises(ConnectionError):
        await ingestor(store, FakeDeadLetters(store.log), retry_forever=False).ingest(records())
    assert store.log == ["insert failed"]


async def test_redelivered_batch_gets_the_same_token() -> None:
    store = FakeStore()
    ing = ingestor(store, FakeDeadLetters(store.log))
    await ing.ingest(records())
    await ing.ingest(list(reversed(records())))
    assert store.tokens[0] == store.tokens[1]


@pytest.mark.parametrize("where", [0, 100, 200])
async def test_an_exception_anywhere_in_mapping_dead_letters_that_record_only(where: int) -> None:
    def mapping_with_a_bug(position: RecordPosition, value: bytes) -> dict[str, list[Row]]:
        if position.offset == where:
            raise ZeroDivisionError("a bug in the mapping")
        return map_record(position, value)

    store = FakeStore()
    letters = FakeDeadLetters(store.log)
    batch = ordinary(201)
    outcome = await ingestor(store, letters, mapper=mapping_with_a_bug).ingest(batch)
    assert [(r.position.offset, r.error) for r in letters.sent] == [(where, "ZeroDivisionError")]
    assert "a bug in the mapping" in letters.sent[0].reason
    assert set(store.stored) == {f"evt-{n}" for n in range(201) if n != where}
    assert set(store.stored.values()) == {1}
    assert outcome.stored == 200


async def test_every_poison_kind_is_dead_lettered_naming_the_field_and_the_rest_is_stored() -> None:
    poisons = poison_records()
    batch = [*ordinary(100)]
    for n, poison in enumerate(poisons):
        batch.append(Record(RecordPosition(f"qms.{poison.topic}", 0, 1000 + n), b"k", poison.value))
    batch.extend(ordinary(100, start=100))
    store = FakeStore()
    letters = FakeDeadLetters(store.log)
    await ingestor(store, letters).ingest(batch)
    assert set(store.stored) == {f"evt-{n}" for n in range(200)}
    assert set(store.stored.values()) == {1}
    refused = {r.position.offset: r.reason for r in letters.sent}
    assert sorted(refused) == [1000 + n for n in range(len(poisons))]
    for n, poison in enumerate(poisons):
        assert poison.field in refused[1000 + n], (poison.kind, refused[1000 + n])


async def test_a_refused_insert_is_split_down_to_the_records_the_store_refuses() -> None:
    store = FakeStore(refuses=frozenset({"evt-17", "evt-150"}))
    letters = FakeDeadLetters(store.log)
    outcome = await ingestor(store, letters).ingest(ordinary(200))
    assert sorted(r.position.offset for r in letters.sent) == [17, 150]
    assert all("the store refused it" in r.reason for r in letters.sent)
    assert {r.error for r in letters.sent} == {"ValueError"}
    assert set(store.stored) == {f"evt-{n}" for n in range(200)} - {"evt-17", "evt-150"}
    assert set(store.stored.values()) == {1}
    assert outcome.stored == 198
    # Every block has its own token, the same again for the same records (redelivery).
    assert len(set(store.tokens)) == len(store.tokens)
    again = FakeStore(refuses=store.refuses)
    await ingestor(again, FakeDeadLetters(again.log)).ingest(ordinary(200))
    assert again.tokens == store.tokens


async def test_a_store_that_is_down_is_waited_for_never_split_nor_dead_lettered() -> None:
    store = FakeStore(down_for=5)
    letters = FakeDeadLetters(store.log)
    outcome = await ingestor(store, letters).ingest(ordinary(200))
    assert store.attempts == [200] * 6
    assert letters.sent == []
    assert outcome.stored == 200 and set(store.stored.values()) == {1}


async def test_a_failed_dead_letter_produce_is_retried_before_ingest_returns() -> None:
    store = FakeStore()
    letters = FakeDeadLetters(store.log, failures=3)
    await ingestor(store, letters).ingest(records())
    assert store.log == ["inserted", *["dead-letter failed"] * 3, "dead-lettered"]
    assert [r.position.offset for r in letters.sent] == [2]


async def test_a_batch_that_fails_unexpectedly_is_retried_not_dropped() -> None:
    class StoreWithABug(FakeStore):
        async def is_refusal(self, error: Exception) -> bool:
            if self.log.count("insert failed") == 1:
                raise RuntimeError("a bug in the classification")
            return await super().is_refusal(error)

    store = StoreWithABug(down_for=1)
    await ingest_until_done(
        ingestor(store, FakeDeadLetters(store.log)), ordinary(10), Backoff(0.001, 0.002)
    )
    assert set(store.stored) == {f"evt-{n}" for n in range(10)}


def test_report_html_escapes_and_draws_inline_svg() -> None:
    data = ReportData(
        agency="H56.01",
        period="2026",
        generated_at="now",
        dossiers_total={"received": 3, "resolved": 2, "on_time": 1, "late": 1},
        dossiers_by_month=[
            {
                "month": "2026-01",
                "received": 3,
                "resolved": 2,
                "on_time": 1,
                "late": 1,
                "received_online": 1,
                "supplement_requested": 0,
                "apologies": 0,
            }
        ],
        in_progress={},
        objectives=[
            {"indicator": "<script>", "period": "2026", "target": 1.0, "comparison": "at_least"}
        ],
        satisfaction_by_month=[],
        satisfaction_total={},
        complaints_by_month=[],
        complaints_total={},
        capa={},
        audits={},
        score_by_month=[],
    )
    html = render_report(data)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>50.0%</b>on time" in html
    assert bar_chart("t", [], {}) == ""
