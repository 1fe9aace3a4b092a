"""The ingestion use case with fakes: insert before dead-letters, retries until it succeeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

import pytest

from schemas.binding import to_kafka_record
from services.metrics.domain.report_html import ReportData, bar_chart, render_report
from services.metrics.domain.rows import RecordPosition, Rejected, Row
from services.metrics.service_layer.ingestion import Ingestor, Record
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit
ICT = timezone(timedelta(hours=7))


class FlakyStore:
    def __init__(self, failures: int, log: list[str]) -> None:
        self.failures, self.log = failures, log
        self.tokens: list[str] = []

    async def ainsert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int:
        if self.failures:
            self.failures -= 1
            self.log.append("insert failed")
            raise ConnectionError("clickhouse down")
        self.tokens.append(token)
        self.log.append("inserted")
        return sum(len(r) for r in rows.values())


class Letters:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.sent: list[Rejected] = []

    async def send(self, rejected: Rejected) -> None:
        self.sent.append(rejected)
        self.log.append("dead-lettered")


def records() -> list[Record]:
    e = f.received(
        "D1", "H56.01", datetime(2026, 1, 5, tzinfo=ICT), datetime(2026, 1, 9, tzinfo=ICT)
    )
    return [
        Record(RecordPosition("qms.dossier.v1", 0, 1), b"D1", to_kafka_record(e).value),
        Record(RecordPosition("qms.dossier.v1", 0, 2), b"x", b"garbage"),
    ]


async def test_insert_is_retried_and_completes_before_dead_letters() -> None:
    log: list[str] = []
    store, letters = FlakyStore(2, log), Letters(log)
    ingestor = Ingestor(store, letters, max_backoff_s=0.01)
    await ingestor.ingest(records())
    assert log == ["insert failed", "insert failed", "inserted", "dead-lettered"]
    assert [r.position.offset for r in letters.sent] == [2]
    assert (ingestor.ingested, ingestor.rejected) == (1, 1)


async def test_without_retry_the_failure_reaches_the_caller_so_nothing_is_acked() -> None:
    log: list[str] = []
    ingestor = Ingestor(FlakyStore(1, log), Letters(log), retry_forever=False)
    with pytest.raises(ConnectionError):
        await ingestor.ingest(records())
    assert log == ["insert failed"]


async def test_redelivered_batch_gets_the_same_token() -> None:
    log: list[str] = []
    store = FlakyStore(0, log)
    ingestor = Ingestor(store, Letters(log))
    await ingestor.ingest(records())
    await ingestor.ingest(list(reversed(records())))
    assert store.tokens[0] == store.tokens[1]


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
