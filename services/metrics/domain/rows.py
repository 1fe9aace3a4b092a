"""Pure mapping from Kafka records to ClickHouse rows, one tuple per table row.

Every table is keyed by the event's (source, id), the idempotency key of the whole
system, so a redelivered event maps to the very same row and the tables (replacing
merge trees) and the views (uniqExact, argMax) count it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

# Vietnam has kept UTC+07:00 without daylight saving since 1975: days and months of the
# KPIs are local calendar days, as the provinces report them.
REPORTING_TZ = timezone(timedelta(hours=7), "ICT")

LEDGER_CHECKPOINTS_TOPIC = "ledger.checkpoints.v1"

Row = tuple[Any, ...]

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
class RecordPosition:
    """Where a Kafka record came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Rejected:
    """A poison record: it goes to the dead-letter topic with the reason."""

    position: RecordPosition
    reason: str
    key: bytes | None
    value: bytes


@dataclass
class Batch:
    """Rows per table for one insert round, plus the records that were refused."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: {t: [] for t in TABLE_COLUMNS})
    rejected: list[Rejected] = field(default_factory=list)
    positions: list[RecordPosition] = field(default_factory=list)

    def add(self, position: RecordPosition, key: bytes | None, value: bytes) -> None:
        """Map one record into rows, or keep it aside as rejected."""
        self.positions.append(position)
        try:
            mapped = map_record(position, value)
        except RecordRefused as exc:
            self.rejected.append(Rejected(position, str(exc), key, value))
            return
        for table, table_rows in mapped.items():
            self.rows[table].extend(table_rows)

    @property
    def size(self) -> int:
        return len(self.positions)


class RecordRefused(ValueError):
    """The record cannot be stored; the message says which field and why."""


def map_record(position: RecordPosition, value: bytes) -> dict[str, list[Row]]:
    """Rows for every table one Kafka record contributes to."""
    if position.topic.endswith(LEDGER_CHECKPOINTS_TOPIC):
        return {"ledger_checkpoints": [checkpoint_row(position, value)]}
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordRefused(f"value: not JSON ({exc})") from exc
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


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def local_day(moment: datetime) -> date:
    """The reporting calendar day (UTC+07:00) an instant falls on."""
    return moment.astimezone(REPORTING_TZ).date()


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
        utc(event.receivedtime) if event.receivedtime else None,
        event.publisher,
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        position.topic,
        position.partition,
        position.offset,
    )


def _head(event: CloudEvent) -> tuple[Any, ...]:
    return (event.source, event.id, event.type, event.subject, event.agencycode)


def _when(event: CloudEvent) -> tuple[datetime, date]:
    return utc(event.time), local_day(event.time)


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
    received_at: datetime | None = None
    channel, online_level, outcome = "", 0, ""
    if isinstance(event, DossierReceived):
        due_at, channel = event.data.due_at, event.data.channel.value
        online_level = event.data.online_level or 0
    elif isinstance(event, DossierResolved):
        due_at, received_at = event.data.due_at, event.data.received_at
        outcome = event.data.outcome.value
    elif isinstance(event, DossierSupplementReceived | DossierApologyIssued):
        due_at = event.data.new_due_at
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
        utc(due_at) if due_at else None,
        utc(received_at) if received_at else None,
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
        d.score,
    )


def _audit(event: CloudEvent) -> tuple[str, Row]:
    data: Any = _data(event)
    on_site: int | None = None
    planned_on: date | None = None
    finding_id = classification = iso_clause = process = procedure = ""
    findings: int | None = None
    if isinstance(event, AuditPlanned):
        on_site, planned_on = int(event.data.on_site), event.data.planned_on
    elif isinstance(event, AuditConducted):
        on_site = int(event.data.on_site)
    elif isinstance(event, AuditFindingRecorded):
        d = event.data
        finding_id, classification, iso_clause = d.finding_id, d.classification.value, d.iso_clause
        process, procedure = d.process, d.procedure_code or ""
    elif isinstance(event, AuditClosed):
        findings = event.data.findings
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
        actual, met = event.data.actual, int(event.data.met)
    else:  # a future objective event: keep the envelope only
        d = _data(event)
    return "objective_events", (
        *_head(event),
        *_when(event),
        str(getattr(d, "indicator", "")),
        float(getattr(d, "target", 0.0)),
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
        correction_due, closure_due = d.correction_due_on, d.closure_due_on
    elif isinstance(event, CapaEffectivenessVerified):
        result = event.data.result.value
    elif isinstance(event, CapaRootCauseRecorded):
        root_cause = event.data.category.value
    elif isinstance(event, CapaRecurrenceFlagged):
        earlier, root_cause = event.data.earlier_capa_id, event.data.root_cause_category.value
    elif isinstance(event, CapaActionsPlanned):
        actions = len(event.data.actions)
    elif isinstance(event, CapaActionCompleted | CapaEscalated):
        pass
    return "capa_events", (
        event.source,
        event.id,
        event.type,
        event.subject,
        agency,
        *_when(event),
        data.sequence,
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
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
