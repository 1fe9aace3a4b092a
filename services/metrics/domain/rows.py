"""Pure mapping from Kafka records to ClickHouse rows, one tuple per table row.

Every table is keyed by the event's (source, id), the idempotency key of the whole
system, so a redelivered event maps to the very same row and the tables (replacing
merge trees) and the views (uniqExact, argMax) count it once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel

from schemas.audit import AuditClosed, AuditConducted, AuditFindingRecorded, AuditPlanned
from schemas.capa import (
    CapaActionCompleted,
    CapaActionsPlanned,
    CapaEffectivenessVerified,
    CapaEscalated,
    CapaOpened,
    CapaRecurrenceFlagged,
    CapaRootCauseRecorded,
)
from schemas.catalogue import EventValidationError, parse_event
from schemas.complaint import ComplaintFiled, ComplaintResolved
from schemas.dossier import (
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierSupplementReceived,
)
from schemas.envelope import CloudEvent
from schemas.objective import QualityObjectiveEvaluated, QualityObjectiveSet
from schemas.satisfaction import SatisfactionRated
from services.common.deadletter import RecordPosition, reason_for

# Vietnam has kept UTC+07:00 without daylight saving since 1975: days and months of the
# KPIs are local calendar days, as the provinces report them.
REPORTING_TZ = timezone(timedelta(hours=7), "ICT")

LEDGER_CHECKPOINTS_TOPIC = "ledger.checkpoints.v1"

# What the ClickHouse columns can hold (deploy/clickhouse/): `Date` counts days since
# 1970-01-01 in 16 bits, `DateTime64(3)` spans 1900-01-01 to 2299-12-31. A value outside
# would fail the insert (or be stored wrapped), so the record is refused naming the field.
DATE_MIN, DATE_MAX = date(1970, 1, 1), date(2149, 6, 6)
INSTANT_MIN = datetime(1900, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)

Row = tuple[Any, ...]
Mapper = Callable[["RecordPosition", bytes], dict[str, list[Row]]]

# Column order of every table the consumer writes (deploy/clickhouse/ holds the DDL).
TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "events": (
        "source",
        "id",
        "type",
        "family",
        "subject",
        "agency",
        "time",
        "received_time",
        "publisher",
        "data",
        "topic",
        "partition",
        "offset",
    ),
    "dossier_events": (
        "source",
        "id",
        "type",
        "dossier",
        "agency",
        "procedure",
        "time",
        "day",
        "channel",
        "online_level",
        "due_at",
        "received_at",
        "outcome",
    ),
    "complaint_events": (
        "source",
        "id",
        "type",
        "complaint",
        "agency",
        "time",
        "day",
        "kind",
        "channel",
        "category",
        "procedure",
        "dossier",
        "substantiated",
    ),
    "satisfaction_ratings": (
        "source",
        "id",
        "rating",
        "agency",
        "time",
        "day",
        "dossier",
        "procedure",
        "channel",
        "score",
    ),
    "audit_events": (
        "source",
        "id",
        "type",
        "audit",
        "agency",
        "time",
        "day",
        "kind",
        "audited_agency",
        "on_site",
        "planned_on",
        "finding_id",
        "classification",
        "iso_clause",
        "process",
        "procedure",
        "findings",
    ),
    "objective_events": (
        "source",
        "id",
        "type",
        "objective",
        "agency",
        "time",
        "day",
        "indicator",
        "target",
        "comparison",
        "period",
        "actual",
        "met",
    ),
    "capa_events": (
        "source",
        "id",
        "type",
        "capa",
        "agency",
        "time",
        "day",
        "sequence",
        "actor_role",
        "nc_source",
        "process",
        "procedure",
        "severity",
        "classification",
        "correction_due_on",
        "closure_due_on",
        "result",
        "root_cause_category",
        "earlier_capa_id",
        "actions",
    ),
    "ledger_checkpoints": (
        "topic",
        "partition",
        "offset",
        "origin",
        "tree_size",
        "root_hash",
        "body",
    ),
}

# The raw events table is written last: once /v1/stats counts an event, its facts are in.
INSERT_ORDER: tuple[str, ...] = (*(t for t in TABLE_COLUMNS if t != "events"), "events")


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
        try:
            rows = (self.mapper or map_record)(position, value)
        except RecordRefused as exc:
            self.rejected.append(Rejected(position, str(exc), key, value))
            return
        except Exception as exc:  # any other failure on one record refuses that record only
            reason, error = reason_for(exc)
            self.rejected.append(Rejected(position, f"cannot map: {reason}", key, value, error))
            return
        self.mapped.append(Mapped(position, key, value, rows))

    @property
    def rows(self) -> dict[str, list[Row]]:
        """Rows per table of every mapped record."""
        return rows_of(self.mapped)

    @property
    def size(self) -> int:
        return len(self.positions)


def rows_of(records: Sequence[Mapped]) -> dict[str, list[Row]]:
    """Rows per table of `records`, in record order."""
    rows: dict[str, list[Row]] = {t: [] for t in TABLE_COLUMNS}
    for record in records:
        for table, table_rows in record.rows.items():
            rows[table].extend(table_rows)
    return rows


class RecordRefused(ValueError):
    """The record cannot be stored; the message says which field and why."""


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
    fact = fact_row(event)
    if fact is not None:
        table, row = fact
        rows[table] = [row]
    return rows


def _refuse_constant(name: str) -> float:
    raise RecordRefused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise RecordRefused(f"{text} is out of range for a number")
    return number


# One decoder for every record: json.loads with hooks would build a new one per call.
_STRICT = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def strict_json(value: bytes) -> Any:
    """The record value as strict JSON: finite numbers only (no NaN, Infinity or 1e999)."""
    try:
        return _STRICT.decode(value.decode("utf-8"))
    except RecordRefused as exc:
        raise RecordRefused(f"{_non_finite_path(value)}: {exc}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordRefused(f"value: not JSON ({exc})") from exc


def _non_finite_path(value: bytes) -> str:
    """The dotted path of the first non-finite number (only on the refusal path)."""

    def walk(node: Any, path: str) -> str | None:
        if isinstance(node, float) and not math.isfinite(node):
            return path or "value"
        items = node.items() if isinstance(node, dict) else enumerate(node or ())
        if isinstance(node, dict | list):
            for key, child in items:
                found = walk(child, f"{path}.{key}" if path else str(key))
                if found is not None:
                    return found
        return None

    try:
        return walk(json.loads(value), "") or "value"
    except (ValueError, RecursionError):
        return "value"


def utc(moment: datetime, name: str = "time") -> datetime:
    """`moment` in UTC, refused (naming the field) outside what `DateTime64(3)` holds."""
    try:
        instant = moment.astimezone(UTC)
    except OverflowError:  # beyond year 1 or 9999 once in UTC
        instant = None
    # Both sides in UTC: the comparison needs no offset arithmetic (this runs per field).
    if instant is None or not INSTANT_MIN <= instant <= INSTANT_MAX:
        raise RecordRefused(
            f"{name}: {moment.isoformat()} is outside what the store holds "
            f"({INSTANT_MIN:%Y-%m-%d} to {INSTANT_MAX:%Y-%m-%d})"
        )
    return instant


def local_day(moment: datetime, name: str = "time") -> date:
    """The reporting calendar day (UTC+07:00) an instant falls on, refused outside `Date`."""
    return _local_day(utc(moment, name), moment, name)


def _local_day(instant: datetime, moment: datetime, name: str) -> date:
    day = instant.astimezone(REPORTING_TZ).date()
    if not DATE_MIN <= day <= DATE_MAX:
        raise RecordRefused(
            f"{name}: {moment.isoformat()} falls on {day.isoformat()}, outside the days the "
            f"store holds ({DATE_MIN.isoformat()} to {DATE_MAX.isoformat()})"
        )
    return day


def stored_date(day: date, name: str) -> date:
    """`day`, refused (naming the field) outside what a ClickHouse `Date` holds."""
    if not DATE_MIN <= day <= DATE_MAX:
        raise RecordRefused(
            f"{name}: {day.isoformat()} is outside what the store holds "
            f"({DATE_MIN.isoformat()} to {DATE_MAX.isoformat()})"
        )
    return day


def unsigned(value: int, bits: int, name: str) -> int:
    """`value`, refused (naming the field) outside an unsigned integer of `bits` bits."""
    if not 0 <= value < 1 << bits:
        raise RecordRefused(f"{name}: {value} is outside 0 to {(1 << bits) - 1}")
    return value


def finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise RecordRefused(f"{name}: {value} is not a finite number")
    return value


def event_row(event: CloudEvent, raw: Mapping[str, Any], position: RecordPosition) -> Row:
    data = raw.get("data")
    return (
        event.source,
        event.id,
        event.type,
        event.family,
        event.subject,
        event.agencycode,
        utc(event.time),
        utc(event.receivedtime, "receivedtime") if event.receivedtime else None,
        event.publisher,
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        position.topic,
        position.partition,
        position.offset,
    )


def _head(event: CloudEvent) -> tuple[Any, ...]:
    return (event.source, event.id, event.type, event.subject, event.agencycode)


def _when(event: CloudEvent) -> tuple[datetime, date]:
    instant = utc(event.time)
    return instant, _local_day(instant, event.time, "time")


def _data(event: CloudEvent) -> BaseModel:
    data = getattr(event, "data", None)
    assert isinstance(data, BaseModel)
    return data


def fact_row(event: CloudEvent) -> tuple[str, Row] | None:
    """The typed fact row of an event (its family's table), or None for none."""
    builder = _FACT_BUILDERS.get(event.family)
    return None if builder is None else builder(event)


def _dossier(event: CloudEvent) -> tuple[str, Row]:
    data: Any = _data(event)
    due_at: datetime | None = None
    due_field = "data.due_at"
    received_at: datetime | None = None
    channel, online_level, outcome = "", 0, ""
    if isinstance(event, DossierReceived):
        due_at, channel = event.data.due_at, event.data.channel.value
        online_level = unsigned(event.data.online_level or 0, 8, "data.online_level")
    elif isinstance(event, DossierResolved):
        due_at, received_at = event.data.due_at, event.data.received_at
        outcome = event.data.outcome.value
    elif isinstance(event, DossierSupplementReceived | DossierApologyIssued):
        due_at, due_field = event.data.new_due_at, "data.new_due_at"
    elif hasattr(data, "channel"):
        channel = data.channel.value
    return "dossier_events", (
        event.source,
        event.id,
        event.type,
        event.subject,
        event.agencycode,
        data.procedure_code,
        *_when(event),
        channel,
        online_level,
        utc(due_at, due_field) if due_at else None,
        utc(received_at, "data.received_at") if received_at else None,
        outcome,
    )


def _complaint(event: CloudEvent) -> tuple[str, Row]:
    kind = channel = category = procedure = dossier = ""
    substantiated: int | None = None
    if isinstance(event, ComplaintFiled):
        d = event.data
        kind, channel, category = d.kind.value, d.channel.value, d.category
        procedure, dossier = d.procedure_code or "", d.dossier_code or ""
    elif isinstance(event, ComplaintResolved):
        substantiated = int(event.data.substantiated)
        procedure = event.data.procedure_code or ""
    return "complaint_events", (
        *_head(event),
        *_when(event),
        kind,
        channel,
        category,
        procedure,
        dossier,
        substantiated,
    )


def _satisfaction(event: CloudEvent) -> tuple[str, Row]:
    assert isinstance(event, SatisfactionRated)
    d = event.data
    return "satisfaction_ratings", (
        event.source,
        event.id,
        event.subject,
        event.agencycode,
        *_when(event),
        d.dossier_code or "",
        d.procedure_code or "",
        d.channel.value,
        unsigned(d.score, 8, "data.score"),
    )


def _audit(event: CloudEvent) -> tuple[str, Row]:
    data: Any = _data(event)
    on_site: int | None = None
    planned_on: date | None = None
    finding_id = classification = iso_clause = process = procedure = ""
    findings: int | None = None
    if isinstance(event, AuditPlanned):
        on_site = int(event.data.on_site)
        planned_on = stored_date(event.data.planned_on, "data.planned_on")
    elif isinstance(event, AuditConducted):
        on_site = int(event.data.on_site)
    elif isinstance(event, AuditFindingRecorded):
        d = event.data
        finding_id, classification, iso_clause = d.finding_id, d.classification.value, d.iso_clause
        process, procedure = d.process, d.procedure_code or ""
    elif isinstance(event, AuditClosed):
        findings = unsigned(event.data.findings, 32, "data.findings")
    return "audit_events", (
        *_head(event),
        *_when(event),
        data.kind.value,
        data.audited_agency,
        on_site,
        planned_on,
        finding_id,
        classification,
        iso_clause,
        process,
        procedure,
        findings,
    )


def _objective(event: CloudEvent) -> tuple[str, Row]:
    actual: float | None = None
    met: int | None = None
    comparison = ""
    if isinstance(event, QualityObjectiveSet):
        d: Any = event.data
        comparison = event.data.comparison.value
    elif isinstance(event, QualityObjectiveEvaluated):
        d = event.data
        actual, met = finite(event.data.actual, "data.actual"), int(event.data.met)
    else:  # a future objective event: keep the envelope only
        d = _data(event)
    return "objective_events", (
        *_head(event),
        *_when(event),
        str(getattr(d, "indicator", "")),
        finite(float(getattr(d, "target", 0.0)), "data.target"),
        comparison,
        str(getattr(d, "period", "")),
        actual,
        met,
    )


def _capa(event: CloudEvent) -> tuple[str, Row]:
    data: Any = _data(event)
    agency = event.agencycode
    nc_source = process = procedure = severity = classification = ""
    correction_due: date | None = None
    closure_due: date | None = None
    result = root_cause = earlier = ""
    actions = 0
    if isinstance(event, CapaOpened):
        d = event.data
        agency, nc_source, process = d.agency, d.source.value, d.process
        procedure, severity = d.procedure_code or "", d.severity.value
        classification = d.classification.value if d.classification else ""
        correction_due = stored_date(d.correction_due_on, "data.correction_due_on")
        closure_due = stored_date(d.closure_due_on, "data.closure_due_on")
    elif isinstance(event, CapaEffectivenessVerified):
        result = event.data.result.value
    elif isinstance(event, CapaRootCauseRecorded):
        root_cause = event.data.category.value
    elif isinstance(event, CapaRecurrenceFlagged):
        earlier, root_cause = event.data.earlier_capa_id, event.data.root_cause_category.value
    elif isinstance(event, CapaActionsPlanned):
        actions = unsigned(len(event.data.actions), 16, "data.actions")
    elif isinstance(event, CapaActionCompleted | CapaEscalated):
        pass
    return "capa_events", (
        event.source,
        event.id,
        event.type,
        event.subject,
        agency,
        *_when(event),
        unsigned(data.sequence, 32, "data.sequence"),
        data.actor_role,
        nc_source,
        process,
        procedure,
        severity,
        classification,
        correction_due,
        closure_due,
        result,
        root_cause,
        earlier,
        actions,
    )


_FACT_BUILDERS = {
    "dossier": _dossier,
    "complaint": _complaint,
    "satisfaction": _satisfaction,
    "audit": _audit,
    "objective": _objective,
    "capa": _capa,
}


def checkpoint_row(position: RecordPosition, value: bytes) -> Row:
    """A ledger checkpoint kept as it came, with origin, size and root when it names them.

    Checkpoints are keyed by their Kafka position: they carry no CloudEvents id.
    """
    try:
        body = value.decode()
    except UnicodeDecodeError as exc:
        raise RecordRefused(f"value: not UTF-8 text ({exc})") from exc
    origin, size, root = "", 0, ""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        origin = str(parsed.get("origin", ""))
        size = _int(parsed.get("size", parsed.get("tree_size", 0)))
        root = str(parsed.get("root", parsed.get("root_hash", "")))
        note = parsed.get("note", parsed.get("checkpoint"))
        if isinstance(note, str) and not origin:
            origin, size, root = _note_fields(note)
    else:  # the C2SP tlog-checkpoint note itself: origin, size and root on three lines
        origin, size, root = _note_fields(body)
    return (position.topic, position.partition, position.offset, origin, size, root, body)


def _note_fields(note: str) -> tuple[str, int, str]:
    lines = note.splitlines()
    origin = lines[0] if lines else ""
    size = _int(lines[1]) if len(lines) > 1 else 0
    root = lines[2] if len(lines) > 2 else ""
    return origin, size, root


def _int(value: Any) -> int:
    """A checkpoint's size as `UInt64` holds it; 0 when it is not such a number."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if 0 <= number < 1 << 64 else 0
