"""Admission of a batch whose events all pass: one validation pass over the body, in Rust.

The general path (`admission.admit_event`) parses the body into dicts, then validates,
looks for unknown fields and serialises each event on its own; that was half of intake's
CPU per event. Here one TypeAdapter (a union of every event model, discriminated by
`type`) parses and validates the whole body straight from bytes, and refuses unknown
fields in the same pass (`extra="forbid"` at validation time reaches nested contracts).

It only ever says yes: at the first event that is not plainly admissible (any validation
error, a stamp sent by the publisher, a chronology, scope or future-time refusal) it
returns None and the caller runs the general path, which names every problem of every
event. So a batch is admitted here exactly when the general path would admit all of it,
with the same record bytes; tests/unit/intake compares the two paths.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from schemas import EVENT_TYPES, family_of, topic_for
from schemas.binding import STRUCTURED_CONTENT_TYPE
from schemas.catalogue import chronology_problems
from schemas.envelope import CloudEvent
from services.intake.domain.admission import INTAKE_ATTRIBUTES, is_from_the_future
from services.intake.domain.publishers import Publisher
from services.intake.service_layer.acceptance_header import acceptance_header, receipt_text
from services.intake.service_layer.content import content_digest, stamp_attributes, stamp_json
from services.intake.service_layer.ports import Admitted, OutgoingRecord

_CONTENT_TYPE_HEADER = ("content-type", STRUCTURED_CONTENT_TYPE.encode())


@cache
def _batch_validator() -> TypeAdapter[list[CloudEvent]]:
    # Built on first use (a few ms), not at import: the CLI imports this module too.
    # The union is built from the catalogue at run time, so its type is only known then.
    union: Any = Union[tuple(EVENT_TYPES.values())]  # noqa: UP007
    event: Any = Annotated[union, Field(discriminator="type")]
    adapter: TypeAdapter[list[CloudEvent]] = TypeAdapter(list[event])
    return adapter


def admit_valid_batch(
    body: bytes,
    publisher: Publisher,
    now: datetime,
    latest: datetime,
    topic_prefix: str,
    max_events: int,
    traceparent: str | None = None,
) -> list[Admitted] | None:
    """Every event admitted, in order, when all are admissible as sent; else None."""
    try:
        events = _batch_validator().validate_json(body, extra="forbid")
    except ValidationError:
        return None
    if not events or len(events) > max_events:
        return None
    stamp = stamp_json(now, publisher.name, traceparent)
    timestamp_ms = int(now.timestamp() * 1000)
    receipt = receipt_text(now)
    routes: dict[str, tuple[str, str]] = {}
    admitted = []
    for event in events:
        route = routes.get(event.type)
        if route is None:
            route = routes[event.type] = (
                family_of(event.type),
                topic_for(event.type, topic_prefix),
            )
        family, topic = route
        if (
            not event.model_fields_set.isdisjoint(INTAKE_ATTRIBUTES)
            or is_from_the_future(event, latest)
            or family not in publisher.families
            or not publisher.covers(event)
            or next(chronology_problems(event), None) is not None
        ):
            return None
        unstamped: bytes = event.__pydantic_serializer__.to_json(event, exclude_none=True)
        value = stamped_value(event, unstamped, stamp)
        if value is None:
            value = (
                event.model_copy(update=stamp_attributes(now, publisher.name, traceparent))
                .model_dump_json(exclude_none=True)
                .encode()
            )
        key = (event.source, event.id)
        content = content_digest(unstamped)
        headers = [_CONTENT_TYPE_HEADER, acceptance_header(key, receipt, content)]
        record = OutgoingRecord(topic, event.subject.encode(), value, headers, timestamp_ms)
        admitted.append(Admitted(key, family, record, now, content))
    return admitted


def stamped_value(event: CloudEvent, unstamped: bytes, stamp: bytes) -> bytes | None:
    """The event's JSON with the stamp members where the stamped model would put them.

    The envelope declares `agencycode`, the stamp members (`receivedtime`, `publisher`,
    `traceparent`), the publisher's `recordedtime`, then the family's `data`, and pydantic
    serialises fields in declaration order; so inserting the stamp right after the
    `agencycode` member gives the bytes of the stamped model without copying it. The
    agency code pattern admits no character JSON escapes, and no JSON string can hold an
    unescaped quote, so the first match is the envelope's member.
    None if the member is not found (then the caller copies the model).
    """
    member = b'"agencycode":"' + event.agencycode.encode() + b'"'
    at = unstamped.find(member)
    if at < 0:
        return None
    end = at + len(member)
    return unstamped[:end] + stamp + unstamped[end:]


def build_validator() -> Any:
    """Build the batch validator now (before traffic) rather than on the first batch."""
    return _batch_validator()
