"""The event catalogue: every v1 type, its family and topic, and one way to parse an event."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.audit import AUDIT_EVENTS
from schemas.base import (
    EARLIEST_TIME,
    FIRST_DAY,
    LAST_DAY,
    LATEST_TIME,
    WINDOW_REASON,
    unknown_fields,
)
from schemas.capa import CAPA_EVENTS, CapaOpened
from schemas.complaint import COMPLAINT_EVENTS
from schemas.document import DOCUMENT_EVENTS
from schemas.dossier import (
    DOSSIER_EVENTS,
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierSupplementReceived,
)
from schemas.envelope import EVENT_TYPE_PREFIX, CloudEvent
from schemas.objective import OBJECTIVE_EVENTS
from schemas.procedure import PROCEDURE_EVENTS
from schemas.satisfaction import SATISFACTION_EVENTS
from schemas.topics import FAMILY_TOPICS as FAMILY_TOPICS  # each family's topic, defined there

PUBLISHED_FAMILIES = (
    "dossier",
    "complaint",
    "satisfaction",
    "audit",
    "objective",
    "procedure",
    "document",
)

ALL_EVENTS: tuple[type[CloudEvent], ...] = (
    DOSSIER_EVENTS
    + COMPLAINT_EVENTS
    + SATISFACTION_EVENTS
    + AUDIT_EVENTS
    + OBJECTIVE_EVENTS
    + PROCEDURE_EVENTS
    + DOCUMENT_EVENTS
    + CAPA_EVENTS
)


def event_type_of(model: type[CloudEvent]) -> str:
    """The `type` literal a model accepts."""
    (literal,) = get_args(model.model_fields["type"].annotation)
    return str(literal)


EVENT_TYPES: Mapping[str, type[CloudEvent]] = {event_type_of(m): m for m in ALL_EVENTS}


def family_of(event_type: str) -> str:
    return event_type.removeprefix(EVENT_TYPE_PREFIX).split(".", 1)[0]


def topic_for(event_type: str, prefix: str = "qms.") -> str:
    return prefix + FAMILY_TOPICS[family_of(event_type)]


@dataclass(frozen=True)
class FieldError:
    """One reason an event was refused: the field (dotted path) and why."""

    field: str
    reason: str


class EventValidationError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


def parse_event(raw: Any, *, refuse_unknown_fields: bool = False) -> CloudEvent:
    """Validate a CloudEvents structured-JSON object into its typed event.

    Raises EventValidationError naming each offending field. Intake passes
    `refuse_unknown_fields=True`; consumers do not, so they ignore fields added later.
    """
    if not isinstance(raw, dict):
        raise EventValidationError([FieldError("", "an event must be a JSON object")])
    event_type = raw.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EventValidationError([FieldError("type", "missing event type")])
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise EventValidationError([FieldError("type", f"unknown event type {event_type!r}")])
    try:
        event = model.model_validate(raw)
    except ValidationError as exc:
        problems = field_errors(exc)
    else:
        problems = list(chronology_problems(event))
    if refuse_unknown_fields:
        problems += [FieldError(path, "unknown field") for path in unknown_fields(model, raw)]
    if problems:
        raise EventValidationError(problems)
    return event


# pydantic states a bound of the time window as the instant it compares with; say the rule.
_WINDOW_BOUNDS = frozenset(
    bound.isoformat() for bound in (EARLIEST_TIME, LATEST_TIME, FIRST_DAY, LAST_DAY)
)


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        if _outside_window(error):
            reason = f"{error['input']!s} is outside the time window: {WINDOW_REASON}"
        errors.append(FieldError(field, reason))
    return errors


def _outside_window(error: ErrorDetails) -> bool:
    ctx = error.get("ctx") or {}
    return str(ctx.get("ge", ctx.get("le"))) in _WINDOW_BOUNDS


def _due_after_received(event: DossierReceived) -> Iterator[FieldError]:
    if event.data.due_at <= event.time:
        yield FieldError("data.due_at", "the due time must be after the received time")


def _resolved_after_received(event: DossierResolved) -> Iterator[FieldError]:
    if event.time < event.data.received_at:
        yield FieldError(
            "time",
            f"resolved at {event.time.isoformat()}, before the dossier was received "
            f"(data.received_at {event.data.received_at.isoformat()})",
        )
    if event.data.due_at <= event.data.received_at:
        yield FieldError("data.due_at", "the due time must be after data.received_at")


def _new_due_in_future(
    event: DossierSupplementReceived | DossierApologyIssued,
) -> Iterator[FieldError]:
    if event.data.new_due_at <= event.time:
        yield FieldError("data.new_due_at", "the new due time must be after the event time")


def _closure_after_correction(event: CapaOpened) -> Iterator[FieldError]:
    if event.data.closure_due_on < event.data.correction_due_on:
        yield FieldError(
            "data.closure_due_on", "the closure due date is before the correction due date"
        )


_CHECKS: Mapping[type[CloudEvent], Callable[[Any], Iterator[FieldError]]] = {
    DossierReceived: _due_after_received,
    DossierResolved: _resolved_after_received,
    DossierSupplementReceived: _new_due_in_future,
    DossierApologyIssued: _new_due_in_future,
    CapaOpened: _closure_after_correction,
}


def _recorded_after_it_happened(event: CloudEvent) -> Iterator[FieldError]:
    if event.recordedtime is not None and event.recordedtime < event.time:
        yield FieldError(
            "recordedtime",
            f"recorded at {event.recordedtime.isoformat()}, before the event happened "
            f"(time {event.time.isoformat()})",
        )


def chronology_problems(event: CloudEvent) -> Iterator[FieldError]:
    """The cross-field time rules of the event's contract (e.g. resolved after received),
    the envelope's first."""
    yield from _recorded_after_it_happened(event)
    check = _CHECKS.get(type(event))
    if check is not None:
        yield from check(event)
