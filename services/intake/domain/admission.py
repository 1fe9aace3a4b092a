"""Checks intake makes beyond the contract: attributes it owns and events from the future."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas import FieldError
from schemas.envelope import CloudEvent

# traceparent too: a publisher passes its trace context in the HTTP `traceparent` header.
INTAKE_ATTRIBUTES = ("receivedtime", "publisher", "traceparent")


def intake_attribute_problems(raw: Mapping[str, Any]) -> list[FieldError]:
    """Publishers may not set the attributes intake stamps on acceptance."""
    return [
        FieldError(name, "set by intake on acceptance; publishers must not send it")
        for name in INTAKE_ATTRIBUTES
        if name in raw
    ]


def is_from_the_future(event: CloudEvent, latest: datetime) -> bool:
    """Whether the event claims to have happened, or to have been recorded by its
    originating system, after `latest` (intake's clock plus the clock-skew tolerance)."""
    return event.time > latest or (event.recordedtime is not None and event.recordedtime > latest)


def future_time_problems(event: CloudEvent, now: datetime, latest: datetime) -> list[FieldError]:
    """The reasons `is_from_the_future` refuses an event, one per attribute."""
    if not is_from_the_future(event, latest):
        return []
    skew = f"{(latest - now).total_seconds():g} s"
    problems = []
    if event.time > latest:
        problems.append(
            FieldError(
                "time",
                f"{event.time.isoformat()} is more than {skew} ahead of intake's clock "
                f"({now.isoformat()})",
            )
        )
    if event.recordedtime is not None and event.recordedtime > latest:
        problems.append(
            FieldError(
                "recordedtime",
                f"{event.recordedtime.isoformat()} is after intake received the event "
                f"({now.isoformat()}, allowing {skew} of clock skew): an event cannot have "
                "been recorded later than it was received",
            )
        )
    return problems
