"""Document control on real ClickHouse SQL (chDB): documents issued and their format
conformity, and the ISO process documents not revised in time after a procedure amendment,
each exact after a second, shuffled delivery of every event."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from schemas.binding import to_kafka_record
from schemas.envelope import CloudEvent
from services.common.credentials import AgencyScope
from services.common.deadletter import RecordPosition
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.kpi_catalogue import PROCESS_REVISION_COLUMNS, EventsKnown
from services.metrics.domain.periods import DayRange
from services.metrics.domain.report_html import render_report
from services.metrics.domain.rows import Batch
from services.metrics.domain.tokens import batch_token
from services.metrics.entrypoints.report_cli import gather
from tests.integration.metrics.conftest import NATIONAL_READER, insert_events, running_service
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))
P1, P2 = "1.000001.000.00.00.H56", "2.000002.000.00.00.H56"


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02}:00:00+07:00")


DOCUMENTS = [
    # H56.01, March: DOC-1 fails its first check (a re-check after correction does not undo
    # it), DOC-2 conforms, DOC-3 is never checked (issued late on the 31st, local time).
    f.document_issued("DOC-1", "H56.01", at("2026-03-10"), "2026-03-10"),
    f.document_checked("DOC-1", "H56.01", at("2026-03-11"), "seal"),
    f.document_checked("DOC-1", "H56.01", at("2026-03-13")),
    f.document_issued("DOC-2", "H56.01", at("2026-03-12"), "2026-03-12"),
    f.document_checked("DOC-2", "H56.01", at("2026-03-12", 15)),
    f.document_issued("DOC-3", "H56.01", at("2026-03-31", 22), "2026-03-31"),
    # April: one conforming for H56.01, one failing two rules for H56.02.
    f.document_issued("DOC-4", "H56.01", at("2026-04-02"), "2026-04-02"),
    f.document_checked("DOC-4", "H56.01", at("2026-04-03")),
    f.document_issued("DOC-5", "H56.02", at("2026-04-01"), "2026-04-01"),
    f.document_checked("DOC-5", "H56.02", at("2026-04-02"), "place_and_date", "typography"),
    f.document_withdrawn("DOC-5", "H56.02", at("2026-04-20"), "2026-04-20"),
]
DOCUMENT_COUNTS = {
    ("H56.01", "2026-03"): (3, 2, 1, 1, 50.0),
    ("H56.01", "2026-04"): (1, 1, 1, 0, 100.0),
    ("H56.02", "2026-04"): (1, 1, 0, 1, 0.0),
}

REGISTER = [
    f.procedure_version(P1, 1, at("2025-12-01"), "2026-01-01", 10),
    f.procedure_version(P1, 2, at("2026-02-20"), "2026-03-01", 7),  # due 2026-03-31
    f.procedure_version(P2, 2, at("2025-12-01"), "2026-01-01", 5),
    f.procedure_version(P2, 3, at("2026-04-01"), "2026-04-10", 4),  # due 2026-05-10
]
PROCESSES = [
    # ISO-A revised in time; ISO-B never; ISO-C late for P1 and never for P2; ISO-D
    # withdrawn before its due day; ISO-E published after the amendment in the new version.
    f.process_document("ISO-A", "H56.01", at("2026-01-05"), 1, (P1, 1)),
    f.process_document("ISO-A", "H56.01", at("2026-03-20"), 2, (P1, 2)),
    f.process_document("ISO-B", "H56.02", at("2026-01-05"), 1, (P1, 1), code="QT-02"),
    f.process_document("ISO-C", "H56.02", at("2026-01-05"), 1, (P1, 1), (P2, 2), code="QT-03"),
    f.process_document("ISO-C", "H56.02", at("2026-04-15"), 2, (P1, 2), (P2, 2), code="QT-03"),
    f.process_document("ISO-D", "H56.03", at("2026-01-05"), 1, (P1, 1)),
    f.document_withdrawn("ISO-D", "H56.03", at("2026-03-15"), "2026-03-15"),
    f.process_document("ISO-E", "H56.03", at("2026-05-01"), 1, (P1, 2), code="QT-05"),
]
EVENTS: list[CloudEvent] = [*DOCUMENTS, *REGISTER, *PROCESSES]


def overdue_row(
    agency: str, document: str, code: str, procedure: str, version: int, amended: str, due: str
) -> dict[str, object]:
    return {
        "agency": agency,
        "document": document,
        "process_code": code,
        "procedure": procedure,
        "version": version,
        "amended_on": amended,
        "due_on": due,
    }


B_P1 = overdue_row("H56.02", "ISO-B", "QT-02", P1, 2, "2026-03-01", "2026-03-31")
C_P1 = overdue_row("H56.02", "ISO-C", "QT-03", P1, 2, "2026-03-01", "2026-03-31")
C_P2 = overdue_row("H56.02", "ISO-C", "QT-03", P2, 3, "2026-04-10", "2026-05-10")


@pytest.fixture(scope="module")
def store(chdb_dsn: str) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    insert_events(store, EVENTS, batch=7)
    shuffled = list(EVENTS)
    random.Random(5).shuffle(shuffled)
    insert_events(store, shuffled, batch=5)  # every event again, out of order
    yield store
    store.close()


def test_documents_issued_and_conforming_at_their_first_check(store: ClickHouseStore) -> None:
    rows = kpi_queries.documents_by(store, DayRange(), ("agency", "month"))
    columns = ("issued", "checked", "conforming", "nonconforming", "conforming_share")
    got = {(r["agency"], r["month"]): tuple(r[c] for c in columns) for r in rows}
    assert got == DOCUMENT_COUNTS
    (h5601,) = kpi_queries.documents_by(store, DayRange(), ("agency",), "H56.01")
    assert (h5601["issued"], h5601["checked"], h5601["conforming_share"]) == (4, 3, 66.6667)
    view = store.query_dicts(
        "SELECT agency, formatDateTime(month, '%Y-%m') AS month, issued, nonconforming "
        "FROM kpi_documents_agency_month"
    )
    assert {(r["agency"], r["month"]): (r["issued"], r["nonconforming"]) for r in view} == {
        k: (v[0], v[3]) for k, v in DOCUMENT_COUNTS.items()
    }


def test_process_documents_not_revised_in_time_as_of_an_instant(store: ClickHouseStore) -> None:
    def overdue(day: str, known: EventsKnown = EventsKnown.AT) -> list[dict[str, object]]:
        moment = at(day, 12).astimezone(UTC)
        return kpi_queries.process_revisions_overdue(store, moment, known=known)

    assert overdue("2026-03-31") == []  # the due day itself is still in time
    early = [
        {**B_P1, "revised_on": None, "days_overdue": 5, "month": "2026-04"},
        {**C_P1, "revised_on": None, "days_overdue": 5, "month": "2026-04"},
    ]
    assert overdue("2026-04-05") == early
    # Known now: ISO-C's revision of 15 April exists, but not yet on 5 April.
    assert overdue("2026-04-05", EventsKnown.NOW) == early
    assert overdue("2026-06-15") == [
        {**B_P1, "revised_on": None, "days_overdue": 76, "month": "2026-04"},
        {**C_P1, "revised_on": "2026-04-15", "days_overdue": 15, "month": "2026-04"},
        {**C_P2, "revised_on": None, "days_overdue": 36, "month": "2026-05"},
    ]
    scoped = kpi_queries.process_revisions_overdue(
        store, at("2026-06-15").astimezone(UTC), scope=AgencyScope(("H56.01", "H56.03"))
    )
    assert scoped == []
    # The view lists the same nonconformities as of the server's now (later than June).
    view = store.query_dicts(
        f"SELECT {', '.join(PROCESS_REVISION_COLUMNS)} FROM kpi_process_revisions_overdue"
    )
    assert {(r["document"], r["procedure"], r["version"]) for r in view} == {
        ("ISO-B", P1, 2),
        ("ISO-C", P1, 2),
        ("ISO-C", P2, 3),
    }


def test_the_capa_policy_judges_a_due_day_once_the_document_s_partition_passed_it(
    chdb_dsn: str,
) -> None:
    """The settled view the CAPA policy reads: an absence is judged only once the
    partition of the process document has carried an event dated after the due day."""
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()

    def settled() -> set[tuple[object, ...]]:
        rows = store.query_dicts(
            "SELECT document, procedure, version FROM process_revisions_overdue_settled"
        )
        return {(r["document"], r["procedure"], r["version"]) for r in rows}

    def insert_on(partition: int, event: CloudEvent, offset: int) -> None:
        batch = Batch()
        position = RecordPosition("qms.document.v1", partition, offset)
        batch.add(position, None, to_kafka_record(event).value)
        store.insert_batch(batch.rows, batch_token([position]))

    try:
        insert_events(store, EVENTS, batch=7)  # every document on partition 0, up to 1 May
        # ISO-C's P2 version 3 is due on 10 May: the partition has not passed it yet.
        assert settled() == {("ISO-B", P1, 2), ("ISO-C", P1, 2)}
        # Another partition's later day says nothing of what partition 0 still brings.
        insert_on(1, f.document_issued("DOC-8", "H56.09", at("2026-06-01"), "2026-06-01"), 0)
        assert ("ISO-C", P2, 3) not in settled()
        insert_on(0, f.document_issued("DOC-9", "H56.09", at("2026-05-11"), "2026-05-11"), 99)
        assert settled() == {("ISO-B", P1, 2), ("ISO-C", P1, 2), ("ISO-C", P2, 3)}
    finally:
        store.close()


async def test_the_read_api_and_the_report_show_document_control(
    store: ClickHouseStore, chdb_dsn: str
) -> None:
    settings = MetricsSettings(clickhouse_dsn=chdb_dsn, clickhouse_database=store.database)
    async with running_service(settings, consume=False) as api:
        params = {"from": "2026-04", "to": "2026-06", "agency": "H56.02"}
        (row,) = (await api.get("/v1/kpi/documents/by-agency", params=params)).json()["rows"]
        assert (row["issued"], row["nonconforming"], row["conforming_share"]) == (1, 1, 0.0)
        months = (await api.get("/v1/kpi/documents/by-agency-month")).json()["rows"]
        assert {(r["agency"], r["month"]): r["issued"] for r in months} == {
            k: v[0] for k, v in DOCUMENT_COUNTS.items()
        }
        body = (
            await api.get(
                "/v1/kpi/process-documents/overdue", params={"at": "2026-04-05T12:00:00+07:00"}
            )
        ).json()
        assert (body.get("known"), body.get("revision_days")) == ("as_of", 30), body
        assert [(r["document"], r["days_overdue"]) for r in body["rows"]] == [
            ("ISO-B", 5),
            ("ISO-C", 5),
        ]

        def report() -> str:
            with httpx.Client(base_url=str(api.base_url), headers=NATIONAL_READER) as client:
                return render_report(gather(client, "H56.02", "2026-Q2", datetime.now(UTC)))

        html = await asyncio.to_thread(report)
    section = html[html.index("<h2>7. Document control</h2>") :]
    figures = re.findall(r'<span class="kpi"><b>([^<]*)</b>([^<]+)</span>', section)
    assert {label: value for value, label in figures} == {
        "documents issued": "1",
        "checked for format": "1",
        "not conforming": "1",
        "conforming": "0.0%",
    }
    # At the end of Q2: ISO-B 91 days over, ISO-C late by 15 days for P1, 51 for P2.
    cells = re.findall(r"<tr><td>(ISO-[A-E])</td>.*?<td>(\d+)</td></tr>", section)
    assert cells == [("ISO-B", "91"), ("ISO-C", "15"), ("ISO-C", "51")]
