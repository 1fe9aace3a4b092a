"""Records to rows: typed facts per family, local days, poison records refused with a reason."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.binding import to_kafka_record
from schemas.dossier import DossierResolved
from schemas.envelope import CloudEvent
from services.common.deadletter import RecordPosition
from services.intake.ledger.adapters.keys import Ed25519Signer
from services.intake.ledger.domain.note import Checkpoint, sign_checkpoint
from services.metrics.domain.rows import (
    INSERT_ORDER,
    TABLE_COLUMNS,
    TABLE_ROWS,
    Batch,
    CapaRow,
    CheckpointRow,
    DossierRow,
    RecordRefused,
    Row,
    local_day,
    map_record,
    map_values,
)
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit
ICT = timezone(timedelta(hours=7))
AT = RecordPosition("qms.dossier.v1", 1, 42)


def _one(rows: dict[str, list[Row]], table: str) -> Any:
    (row,) = rows[table]
    return row


def test_every_family_fills_its_table_with_its_values_by_column_name() -> None:
    at = datetime(2026, 1, 5, 9, tzinfo=ICT)
    due = datetime(2026, 1, 9, tzinfo=ICT)
    expected: list[tuple[CloudEvent, str, dict[str, Any]]] = [
        (
            f.received("D1", "H56.01", at, due, channel="online", level=3),
            "dossier_events",
            {
                "dossier": "D1",
                "agency": "H56.01",
                "channel": "online",
                "online_level": 3,
                "due_at": due,
                "received_at": None,
                "outcome": "",
                "day": date(2026, 1, 5),
            },
        ),
        (
            f.complaint_filed("C1", "H56.01", at, dossier="D1"),
            "complaint_events",
            {
                "complaint": "C1",
                "agency": "H56.01",
                "kind": "complaint",
                "channel": "online",
                "category": "processing_delay",
                "procedure": "",
                "dossier": "D1",
                "substantiated": None,
                "day": at.date(),
            },
        ),
        (
            f.complaint_resolved("C1", "H56.01", at, True),
            "complaint_events",
            {"complaint": "C1", "substantiated": 1, "kind": "", "channel": ""},
        ),
        (
            f.rating("R1", "H56.01", at, 4),
            "satisfaction_ratings",
            {"rating": "R1", "agency": "H56.01", "score": 4, "day": at.date()},
        ),
        (
            f.finding("A1", "H56", "H56.01", at, "F1", "major"),
            "audit_events",
            {
                "audit": "A1",
                "agency": "H56",
                "audited_agency": "H56.01",
                "finding_id": "F1",
                "classification": "major",
                "on_site": None,
                "findings": None,
            },
        ),
        (
            f.objective_set("O1", "H56.01", at, "online_share", 50, "2026"),
            "objective_events",
            {
                "objective": "O1",
                "indicator": "online_share",
                "target": 50.0,
                "period": "2026",
                "actual": None,
                "met": None,
            },
        ),
        (
            f.procedure_version("1.001612", 2, at, "2026-02-01", 7, ("province", "commune")),
            "procedure_events",
            {
                "procedure": "1.001612",
                "agency": "H56",
                "type": "vn.qms.procedure.amended.v1",
                "version": 2,
                "statutory_working_days": 7,
                "effective_from": date(2026, 2, 1),
                "levels": ["province", "commune"],
                "legal_basis": "QĐ 2/QĐ-UBND",
            },
        ),
        (
            f.procedure_repealed("1.001612", at, "2026-03-01"),
            "procedure_events",
            {"procedure": "1.001612", "version": 0, "effective_from": date(2026, 3, 1)},
        ),
        (
            f.document_issued("DOC-1", "H56.01", at, "2026-01-14", kind="plan"),
            "document_events",
            {"document": "DOC-1", "kind": "plan", "dated_on": date(2026, 1, 14), "revision": 1},
        ),
        (
            f.document_checked("DOC-1", "H56.01", at, "seal", "recipients"),
            "document_events",
            {"conforming": 0, "nonconformities": ["seal", "recipients"], "kind": ""},
        ),
        (
            f.document_withdrawn("DOC-1", "H56.01", at, "2026-02-01"),
            "document_events",
            {"type": "vn.qms.document.withdrawn.v1", "dated_on": date(2026, 2, 1)},
        ),
        (
            f.process_document("ISO-1", "H56.01", at, 2, ("1.001612", 3), ("2.000123", 1)),
            "document_events",
            {
                "type": "vn.qms.document.process_revised.v1",
                "process_code": "QT-01",
                "revision": 2,
                "basis_procedures": ["1.001612", "2.000123"],
                "basis_versions": [3, 1],
            },
        ),
        (
            f.capa("opened", "CAPA-1", "H56.01", at, 1),
            "capa_events",
            {
                "capa": "CAPA-1",
                "agency": "H56.01",
                "sequence": 1,
                "severity": "minor",
                "actions": 0,
            },
        ),
    ]
    for event, table, values in expected:
        rows = map_record(AT, to_kafka_record(event).value)
        assert set(rows) == {"events", table}
        fact = _one(rows, table)._asdict()
        assert {column: fact[column] for column in values} == values, table
        assert (fact["source"], fact["id"], fact["time"]) == (event.source, event.id, event.time)
        raw = _one(rows, "events")
        assert (raw.id, raw.family, raw.agency, raw.topic, raw.offset) == (
            event.id,
            event.family,
            event.agencycode,
            AT.topic,
            AT.offset,
        )
    assert INSERT_ORDER[-1] == "events"


def test_each_row_type_is_the_column_list_of_its_table() -> None:
    for table, row_type in TABLE_ROWS.items():
        assert TABLE_COLUMNS[table] == row_type._fields  # type: ignore[attr-defined]


def test_dossier_fact_row_keeps_due_time_channel_and_local_day() -> None:
    # 18:30 UTC on 31 January is 01:30 on 1 February in Hà Nội: a February dossier.
    at = datetime(2026, 1, 31, 18, 30, tzinfo=UTC)
    due = datetime(2026, 2, 5, tzinfo=UTC)
    e = f.received("D1", "H56.01", at, due, channel="online", level=4)
    row = _one(map_record(AT, to_kafka_record(e).value), "dossier_events")
    assert isinstance(row, DossierRow)
    assert row.day == date(2026, 2, 1)
    assert (row.dossier, row.agency, row.channel, row.online_level) == ("D1", "H56.01", "online", 4)
    assert row.due_at == due and row.time == at


def test_a_step_transfer_row_keeps_its_step_units_officer_and_times() -> None:
    at = datetime(2026, 2, 2, 9, tzinfo=ICT)
    due, taken = at + timedelta(hours=1), at + timedelta(hours=2)
    e = f.step_transferred(
        "D1", "H56.01", at, 2, "Phòng chuyên môn", "Lãnh đạo phòng",
        officer="off-7", due=due, allotted_hours=4.5, taken_over=taken,
    )  # fmt: skip
    row = _one(map_record(AT, to_kafka_record(e).value), "dossier_events")
    assert isinstance(row, DossierRow)
    assert (row.step, row.from_unit, row.to_unit, row.officer) == (
        2, "Phòng chuyên môn", "Lãnh đạo phòng", "off-7",
    )  # fmt: skip
    assert (row.step_due_at, row.allotted_working_hours, row.to_unit_received_at) == (
        due, 4.5, taken,
    )  # fmt: skip


def test_other_dossier_events_have_no_step_but_keep_their_officer() -> None:
    at = datetime(2026, 2, 2, 9, tzinfo=ICT)
    e = f.resolved("D1", "H56.01", at, at + timedelta(days=1), at + timedelta(days=3))
    assert isinstance(e, DossierResolved)
    e = e.model_copy(update={"data": e.data.model_copy(update={"officer_id": "off-3"})})
    row = _one(map_record(AT, to_kafka_record(e).value), "dossier_events")
    assert isinstance(row, DossierRow)
    assert (row.step, row.from_unit, row.officer, row.step_due_at) == (0, "", "off-3", None)


def test_supplement_moves_the_due_time_in_the_fact_row() -> None:
    new_due = datetime(2026, 3, 1, tzinfo=ICT)
    e = f.supplement_received("D1", "H56.01", datetime(2026, 2, 1, tzinfo=ICT), new_due)
    assert _one(map_record(AT, to_kafka_record(e).value), "dossier_events").due_at == new_due


def test_capa_row_takes_the_agency_of_the_nonconformity() -> None:
    e = f.capa("opened", "CAPA-1", "H56.02", datetime(2026, 1, 5, tzinfo=ICT), 1)
    row = _one(
        map_record(RecordPosition("qms.capa.v1", 0, 1), to_kafka_record(e).value), "capa_events"
    )
    assert isinstance(row, CapaRow)
    assert (row.agency, row.severity, row.sequence) == ("H56.02", "minor", 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "value: not JSON"),
        (b'{"type": "vn.qms.dossier.nope.v1"}', "unknown event type"),
        (b'{"type": "vn.qms.dossier.received.v1", "id": "x"}', "source"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_poison_records_are_refused_with_the_field_and_reason(value: bytes, reason: str) -> None:
    with pytest.raises(RecordRefused, match=reason):
        map_record(AT, value)


def test_batch_keeps_rejects_aside_and_rows_per_table() -> None:
    batch = Batch()
    good = f.received(
        "D1", "H56.01", datetime(2026, 1, 5, tzinfo=ICT), datetime(2026, 1, 9, tzinfo=ICT)
    )
    batch.add(RecordPosition("qms.dossier.v1", 0, 1), b"D1", to_kafka_record(good).value)
    batch.add(RecordPosition("qms.dossier.v1", 0, 2), b"k", b"nope")
    assert batch.size == 2
    assert [r.position.offset for r in batch.rejected] == [2]
    assert len(batch.rows["events"]) == len(batch.rows["dossier_events"]) == 1


def test_a_batch_mapped_by_values_gives_the_rows_of_its_records_and_refuses_by_index() -> None:
    at = datetime(2026, 1, 5, tzinfo=ICT)
    values = [
        (RecordPosition("qms.dossier.v1", 0, n), to_kafka_record(e).value)
        for n, e in enumerate(
            f.received(f"D{n}", "H56.01", at, at + timedelta(days=4)) for n in range(3)
        )
    ]
    values.insert(1, (RecordPosition("qms.dossier.v1", 0, 9), b"nope"))
    batch = Batch()
    for position, value in values:
        batch.add(position, None, value)

    mapped = map_values(values)

    assert mapped.mapped == [0, 2, 3]
    ((index, refusal),) = mapped.refused
    assert (index, refusal.reason, refusal.error) == (1, batch.rejected[0].reason, "")
    assert mapped.rows == batch.rows
    assert len(mapped.rows["events"]) == 3


def test_ledger_checkpoint_note_is_read_by_the_ledgers_parser() -> None:
    root = bytes(range(32))
    checkpoint = Checkpoint(origin="qms-trail/qms.dossier.v1/0", size=1234, root=root)
    signer = Ed25519Signer("qms-trail-test", Ed25519PrivateKey.generate())
    note = sign_checkpoint(checkpoint, signer)
    position = RecordPosition("qms.ledger.checkpoints.v1", 0, 9)
    row = _one(map_record(position, note.encode()), "ledger_checkpoints")
    assert isinstance(row, CheckpointRow)
    assert row._asdict() == {
        "topic": "qms.ledger.checkpoints.v1",
        "partition": 0,
        "offset": 9,
        "origin": "qms-trail/qms.dossier.v1/0",
        "tree_size": 1234,
        "root_hash": base64.b64encode(root).decode(),
        "body": note,
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"origin": "o", "size": 7, "root": "r"}', "not a signed checkpoint note"),
        (b"qms-trail/qms.dossier.v1/0\n12\nnot-base64\n\n", "root is not base64"),
        (b"\xff", "not UTF-8"),
    ],
)
def test_a_checkpoint_the_ledger_cannot_parse_is_refused_with_its_reason(
    value: bytes, reason: str
) -> None:
    with pytest.raises(RecordRefused, match=reason):
        map_record(RecordPosition("qms.ledger.checkpoints.v1", 0, 9), value)


def test_local_day_is_utc_plus_seven() -> None:
    assert local_day(datetime(2026, 12, 31, 16, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert local_day(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("happened", "received", "late"),
    [
        (datetime(2025, 3, 7, 16, tzinfo=ICT), datetime(2025, 3, 10, 9, tzinfo=ICT), 1),  # Fri→Mon
        (datetime(2025, 3, 7, 16, tzinfo=ICT), datetime(2025, 3, 11, 9, tzinfo=ICT), 2),
        (datetime(2025, 1, 24, 16, tzinfo=ICT), datetime(2025, 2, 3, 9, tzinfo=ICT), 1),  # Tết
        # Local days: 23:30 UTC on 6 Mar is 06:30 on Friday 7 Mar in Hà Nội.
        (datetime(2025, 3, 6, 23, 30, tzinfo=UTC), datetime(2025, 3, 10, 2, tzinfo=UTC), 1),
        (datetime(2031, 3, 7, 16, tzinfo=ICT), datetime(2031, 3, 12, 9, tzinfo=ICT), None),
    ],
)
def test_the_events_row_counts_how_many_working_days_late_it_was_recorded(
    happened: datetime, received: datetime, late: int | None
) -> None:
    e = f.received("D1", "H56.01", happened, happened + timedelta(days=30))
    e = e.model_copy(update={"receivedtime": received})
    row = _one(map_record(AT, to_kafka_record(e).value), "events")
    assert row.recorded_working_days_late == late


def test_an_event_without_a_receipt_has_no_lateness() -> None:
    e = f.received(
        "D1", "H56.01", datetime(2025, 3, 7, tzinfo=ICT), datetime(2025, 4, 7, tzinfo=ICT)
    )
    row = _one(map_record(AT, to_kafka_record(e).value), "events")
    assert row.received_time is None
    assert row.recorded_working_days_late is None


def test_the_lateness_is_counted_from_the_originating_systems_recorded_time() -> None:
    # Happened on a Friday, recorded by the one-stop-shop on Monday (one working day: not
    # late), imported through intake three weeks later.
    happened = datetime(2025, 3, 7, 16, tzinfo=ICT)
    e = f.received("D1", "H56.01", happened, happened + timedelta(days=30))
    e = e.model_copy(
        update={
            "recordedtime": datetime(2025, 3, 10, 9, tzinfo=ICT),
            "receivedtime": datetime(2025, 3, 31, 9, tzinfo=ICT),
        }
    )
    row = _one(map_record(AT, to_kafka_record(e).value), "events")
    assert row.recorded_time == datetime(2025, 3, 10, 2, tzinfo=UTC)
    assert row.received_time == datetime(2025, 3, 31, 2, tzinfo=UTC)
    assert row.recorded_working_days_late == 1


def test_a_recorded_time_before_the_event_happened_is_refused() -> None:
    happened = datetime(2025, 3, 7, 16, tzinfo=ICT)
    e = f.received("D1", "H56.01", happened, happened + timedelta(days=30))
    e = e.model_copy(update={"recordedtime": happened - timedelta(seconds=1)})
    with pytest.raises(RecordRefused, match="recordedtime"):
        map_record(AT, to_kafka_record(e).value)
