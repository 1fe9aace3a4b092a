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


def future_time_problems(event: CloudEvent, now: datetime, latest: datetime) -> list[FieldError]:
    """An event that claims to have happened after `latest` (intake's clock + skew) is refused."""
    if event.time > latest:
        return [
            FieldError(
                "time",
                f"{event.time.isoformat()} is more than {(latest - now).total_seconds():g} s "
                f"ahead of intake's clock ({now.isoformat()})",
            )
        ]
    return []
