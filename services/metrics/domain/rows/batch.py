"""One record to its rows, and the records of one insert round with those refused on the way."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas.catalogue import EventValidationError, parse_event
from schemas.topics import LEDGER_CHECKPOINTS_TOPIC
from services.common.deadletter import RecordPosition, reason_for
from services.metrics.domain.rows.checkpoints import checkpoint_row
from services.metrics.domain.rows.envelope import event_row
from services.metrics.domain.rows.tables import FACT_TABLES, TABLE_ROWS
from services.metrics.domain.rows.values import RecordRefused, strict_json

# A row as the store inserts it: one of the row types of `TABLE_ROWS` (all NamedTuples).
Row = tuple[Any, ...]
Mapper = Callable[[RecordPosition, bytes], dict[str, list[Row]]]


def map_record(position: RecordPosition, value: bytes) -> dict[str, list[Row]]:
    """Rows for every table one Kafka record contributes to."""
    if position.topic.endswith(LEDGER_CHECKPOINTS_TOPIC):
        return {"ledger_checkpoints": [checkpoint_row(position, value)]}
    raw = strict_json(value)
    try:
        event = parse_event(raw)
    except EventValidationError as exc:
        raise RecordRefused(str(exc)) from exc
    rows: dict[str, list[Row]] = {"events": [event_row(event, raw, position)]}
    fact = FACT_TABLES.get(event.family)
    if fact is not None:
        table, build = fact
        rows[table] = [build(event)]
    return rows


@dataclass(frozen=True)
class Rejected:
    """A poison record: it goes to the dead-letter topic with the reason.

    `error` names the exception class when an unexpected error (not a `RecordRefused`)
    refused it: a bug or a value nobody foresaw, dead-lettered all the same.
    """

    position: RecordPosition
    reason: str
    key: bytes | None
    value: bytes
    error: str = ""


@dataclass(frozen=True)
class Mapped:
    """One record and the rows it contributes to each table."""

    position: RecordPosition
    key: bytes | None
    value: bytes
    rows: Mapping[str, list[Row]]


@dataclass
class Batch:
    """The records of one insert round, mapped to rows, and those refused on the way."""

    mapped: list[Mapped] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    positions: list[RecordPosition] = field(default_factory=list)
    mapper: Mapper | None = None  # `map_record` unless a test swaps it

    def add(self, position: RecordPosition, key: bytes | None, value: bytes) -> None:
        """Map one record into rows, or keep it aside as rejected, whatever it holds."""
        self.positions.append(position)
        outcome = _rows_or_refusal(self.mapper or map_record, position, value)
        if isinstance(outcome, Refusal):
            self.rejected.append(Rejected(position, outcome.reason, key, value, outcome.error))
        else:
            self.mapped.append(Mapped(position, key, value, outcome))

    @property
    def rows(self) -> dict[str, list[Row]]:
        """Rows per table of every mapped record."""
        return rows_of(self.mapped)

    @property
    def size(self) -> int:
        return len(self.positions)


class Refusal(NamedTuple):
    """Why one record maps to no row: the reason, and the exception class when it was not
    a `RecordRefused` (see `Rejected.error`)."""

    reason: str
    error: str = ""


def _rows_or_refusal(
    mapper: Mapper, position: RecordPosition, value: bytes
) -> dict[str, list[Row]] | Refusal:
    try:
        return mapper(position, value)
    except RecordRefused as exc:
        return Refusal(str(exc))
    except Exception as exc:  # any other failure on one record refuses that record only
        reason, error = reason_for(exc)
        return Refusal(f"cannot map: {reason}", error)


@dataclass(frozen=True)
class MappedRows:
    """A batch mapped: its rows per table in record order, and which records (by index in
    the batch) gave them and which were refused.

    It holds nothing the caller already has (no keys, no values), so it is cheap to send
    back from a process that maps while the caller inserts."""

    rows: dict[str, list[Row]]
    mapped: list[int]
    refused: list[tuple[int, Refusal]]


def map_values(
    values: Sequence[tuple[RecordPosition, bytes]], mapper: Mapper | None = None
) -> MappedRows:
    """Map a batch of (position, value) records, refusing each one that cannot be mapped."""
    rows: dict[str, list[Row]] = {t: [] for t in TABLE_ROWS}
    mapped: list[int] = []
    refused: list[tuple[int, Refusal]] = []
    mapper = mapper or map_record
    for index, (position, value) in enumerate(values):
        outcome = _rows_or_refusal(mapper, position, value)
        if isinstance(outcome, Refusal):
            refused.append((index, outcome))
            continue
        mapped.append(index)
        for table, table_rows in outcome.items():
            rows[table].extend(table_rows)
    return MappedRows(rows, mapped, refused)


def rows_of(records: Sequence[Mapped]) -> dict[str, list[Row]]:
    """Rows per table of `records`, in record order."""
    rows: dict[str, list[Row]] = {t: [] for t in TABLE_ROWS}
    for record in records:
        for table, table_rows in record.rows.items():
            rows[table].extend(table_rows)
    return rows
