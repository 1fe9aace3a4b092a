"""Records to rows: typed facts per family, local days, poison records refused with a reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from schemas.binding import to_kafka_record
from services.common.deadletter import RecordPosition
from services.metrics.domain.rows import (
    INSERT_ORDER,
    TABLE_COLUMNS,
    Batch,
    RecordRefused,
    local_day,
    map_record,
)
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit
ICT = timezone(timedelta(hours=7))
AT = RecordPosition("qms.dossier.v1", 1, 42)


def test_every_row_has_its_table_columns() -> None:
    events = [
        f.received(
            "D1",
            "H56.01",
            datetime(2026, 1, 5, 9, tzinfo=ICT),
            datetime(2026, 1, 9, tzinfo=ICT),
            channel="online",
            level=3,
        ),
        f.complaint_filed("C1", "H56.01", datetime(2026, 1, 5, tzinfo=ICT)),
        f.rating("R1", "H56.01", datetime(2026, 1, 5, tzinfo=ICT), 4),
        f.finding("A1", "H56", "H56.01", datetime(2026, 1, 5, tzinfo=ICT), "F1", "major"),
        f.objective_set(
            "O1", "H56.01", datetime(2026, 1, 1, tzinfo=ICT), "online_share", 50, "2026"
        ),
        f.capa("opened", "CAPA-1", "H56.01", datetime(2026, 1, 5, tzinfo=ICT), 1),
    ]
    for e in events:
        rows = map_record(AT, to_kafka_record(e).value)
        assert set(rows) == {
            "events",
            {
                "dossier": "dossier_events",
                "complaint": "complaint_events",
                "satisfaction": "satisfaction_ratings",
                "audit": "audit_events",
                "objective": "objective_events",
                "capa": "capa_events",
            }[e.family],
        }
        for table, table_rows in rows.items():
            assert all(len(r) == len(TABLE_COLUMNS[table]) for r in table_rows), table
    assert INSERT_ORDER[-1] == "events"


def test_dossier_fact_row_keeps_due_time_channel_and_local_day() -> None:
    # 18:30 UTC on 31 January is 01:30 on 1 February in Hà Nội: a February dossier.
    at = datetime(2026, 1, 31, 18, 30, tzinfo=UTC)
    due = datetime(2026, 2, 5, tzinfo=UTC)
    e = f.received("D1", "H56.01", at, due, channel="online", level=4)
    (row,) = map_record(AT, to_kafka_record(e).value)["dossier_events"]
    named = dict(zip(TABLE_COLUMNS["dossier_events"], row, strict=True))
    assert named["day"] == date(2026, 2, 1)
    assert (named["dossier"], named["agency"], named["channel"], named["online_level"]) == (
        "D1",
        "H56.01",
        "online",
        4,
    )
    assert named["due_at"] == due and named["time"] == at


def test_supplement_moves_the_due_time_in_the_fact_row() -> None:
    new_due = datetime(2026, 3, 1, tzinfo=ICT)
    e = f.supplement_received("D1", "H56.01", datetime(2026, 2, 1, tzinfo=ICT), new_due)
    (row,) = map_record(AT, to_kafka_record(e).value)["dossier_events"]
    assert dict(zip(TABLE_COLUMNS["dossier_events"], row, strict=True))["due_at"] == new_due


def test_capa_row_takes_the_agency_of_the_nonconformity() -> None:
    e = f.capa("opened", "CAPA-1", "H56.02", datetime(2026, 1, 5, tzinfo=ICT), 1)
    (row,) = map_record(RecordPosition("qms.capa.v1", 0, 1), to_kafka_record(e).value)[
        "capa_events"
    ]
    named = dict(zip(TABLE_COLUMNS["capa_events"], row, strict=True))
    assert (named["agency"], named["severity"], named["sequence"]) == ("H56.02", "minor", 1)


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


def test_ledger_checkpoint_note_is_read_by_position() -> None:
    note = b"qms.example/ledger/dossier.v1/0\n1234\nq83vJ1hQ...=\n\n- signer sig"
    position = RecordPosition("qms.ledger.checkpoints.v1", 0, 9)
    (row,) = map_record(position, note)["ledger_checkpoints"]
    named = dict(zip(TABLE_COLUMNS["ledger_checkpoints"], row, strict=True))
    assert (named["origin"], named["tree_size"], named["root_hash"]) == (
        "qms.example/ledger/dossier.v1/0",
        1234,
        "q83vJ1hQ...=",
    )
    (row,) = map_record(position, b'{"origin": "o", "size": 7, "root": "r"}')["ledger_checkpoints"]
    assert row[3:6] == ("o", 7, "r")


def test_local_day_is_utc_plus_seven() -> None:
    assert local_day(datetime(2026, 12, 31, 16, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert local_day(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == date(2027, 1, 1)
