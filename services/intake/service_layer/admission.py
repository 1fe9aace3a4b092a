"""Admission: validate, authorise and stamp events. Pure functions, safe to run in a worker.

Everything here is CPU work on values (no I/O, no shared state), so a batch can be
admitted in another process: `admit_batch_body` takes the raw body and returns picklable
results, and the event loop only appends what was admitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import from_json

from schemas import EventValidationError, FieldError, parse_event, topic_for
from services.intake.domain.admission import (
    INTAKE_ATTRIBUTES,
    future_time_problems,
    intake_attribute_problems,
)
from services.intake.domain.publishers import Publisher, scope_problems
from services.intake.domain.unknown_fields import has_unknown_fields
from services.intake.service_layer.acceptance_header import acceptance_header, receipt_text
from services.intake.service_layer.content import (
    event_digest,
    record_digest,
    stamp_attributes,
    stamp_json,
)
from services.intake.service_layer.encoding import encode_record
from services.intake.service_layer.ports import Admitted, OutgoingRecord
from services.intake.service_layer.valid_batch import admit_valid_batch, build_validator


@dataclass(frozen=True, slots=True)
class Refused:
    """An event intake did not append, with the HTTP status and every reason."""

    status: int
    reason: str  # metrics label: invalid, forbidden, future_time, conflict, unavailable
    errors: list[FieldError]
    id: str | None = None


Admission = Admitted | Refused

__all__ = [
    "Admission",
    "Admitted",
    "BatchAdmission",
    "BatchProblem",
    "Refused",
    "admit_batch_body",
    "admit_event",
    "warm_up",
]


class BatchProblem(NamedTuple):
    """Why a whole batch body was refused before any event was looked at."""

    status: int
    slug: str
    detail: str
    reason: str
    errors: list[tuple[str, str]]  # (field, reason)


class BatchAdmission(NamedTuple):
    problem: BatchProblem | None
    admissions: list[Admission]


def admit_event(
    raw: Any,
    publisher: Publisher,
    now: datetime,
    latest: datetime,
    topic_prefix: str,
    traceparent: str | None = None,
) -> Admission:
    """Validate, authorise and stamp one event (received at `now`), or say why not."""
    if not isinstance(raw, dict):
        return Refused(422, "invalid", [FieldError("", "an event must be a JSON object")])
    raw_id = raw.get("id")
    item_id = raw_id if isinstance(raw_id, str) else None
    owned = intake_attribute_problems(raw)
    try:
        if owned:
            raise EventValidationError(owned)
        # Stamped before validation: cheaper than copying the validated model.
        event = parse_event({**raw, **stamp_attributes(now, publisher.name, traceparent)})
        if has_unknown_fields(type(event), raw):
            parse_event(raw, refuse_unknown_fields=True)  # raises with every problem
    except EventValidationError:
        others = [e for e in _all_problems(raw) if e.field not in INTAKE_ATTRIBUTES]
        return Refused(422, "invalid", owned + others, item_id)
    # The yes/no first: the reasons are only built for an event that is refused.
    if not (publisher.may_publish_family(event.family) and publisher.covers(event)):
        return Refused(403, "forbidden", scope_problems(publisher, event), item_id)
    future = future_time_problems(event, now, latest)
    if future:
        return Refused(422, "future_time", future, item_id)
    record = encode_record(event)
    stamp = stamp_json(now, publisher.name, traceparent)
    content = record_digest(record.value, stamp) or event_digest(event)
    key = (event.source, event.id)
    return Admitted(
        key,
        event.family,
        OutgoingRecord(
            topic_for(event.type, topic_prefix),
            record.key,
            record.value,
            [*record.headers, acceptance_header(key, receipt_text(now), content)],
            int(now.timestamp() * 1000),
        ),
        now,
        content,
    )


def admit_batch_body(
    body: bytes,
    publisher: Publisher,
    now: datetime,
    latest: datetime,
    topic_prefix: str,
    max_events: int,
    traceparent: str | None = None,
) -> BatchAdmission:
    """Parse a batch body (a JSON array of events) and admit each event."""
    # The common case first: every event admissible, checked in one pass over the bytes.
    valid = admit_valid_batch(body, publisher, now, latest, topic_prefix, max_events, traceparent)
    if valid is not None:
        return BatchAdmission(None, list(valid))
    # Otherwise event by event, stating every problem of every refused event.
    try:
        events = from_json(body)
    except ValueError as exc:
        return BatchAdmission(
            BatchProblem(
                400, "malformed-json", f"the body is not valid JSON: {exc}", "malformed_json", []
            ),
            [],
        )
    if not isinstance(events, list):
        return BatchAdmission(
            BatchProblem(
                422,
                "invalid-batch",
                "a batch must be a JSON array of events",
                "invalid_batch",
                [("", "expected a JSON array")],
            ),
            [],
        )
    if not events:
        return BatchAdmission(
            BatchProblem(
                422,
                "invalid-batch",
                "the batch is empty",
                "invalid_batch",
                [("", "at least one event is required")],
            ),
            [],
        )
    if len(events) > max_events:
        return BatchAdmission(
            BatchProblem(
                413,
                "batch-too-large",
                f"the batch has {len(events)} events; at most {max_events} are accepted "
                "per request",
                "batch_too_large",
                [],
            ),
            [],
        )
    return BatchAdmission(
        None,
        [admit_event(raw, publisher, now, latest, topic_prefix, traceparent) for raw in events],
    )


def warm_up() -> int:
    """Run in each worker at start: imports and builds the validators before traffic."""
    build_validator()
    return len(parse_event.__module__)


def _all_problems(raw: dict[str, Any]) -> list[FieldError]:
    """Every problem of a refused event, unknown fields included, as the contract states them."""
    try:
        parse_event(raw, refuse_unknown_fields=True)
    except EventValidationError as exc:
        return exc.errors
    return []
