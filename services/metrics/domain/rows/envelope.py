"""The raw `events` table (deploy/clickhouse/0001): every event as it arrived."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel

from schemas.envelope import CloudEvent
from services.common.deadletter import RecordPosition
from services.metrics.domain.rows.values import local_day_of, utc


class EventRow(NamedTuple):
    """One row of `events`; the field names are the column names."""

    source: str
    id: str
    type: str
    family: str
    subject: str
    agency: str
    time: datetime
    received_time: datetime | None
    publisher: str | None
    data: str
    topic: str
    partition: int
    offset: int


def event_row(event: CloudEvent, raw: Mapping[str, Any], position: RecordPosition) -> EventRow:
    return EventRow(
        source=event.source,
        id=event.id,
        type=event.type,
        family=event.family,
        subject=event.subject,
        agency=event.agencycode,
        time=utc(event.time),
        received_time=utc(event.receivedtime, "receivedtime") if event.receivedtime else None,
        publisher=event.publisher,
        data=json.dumps(raw.get("data"), ensure_ascii=False, separators=(",", ":")),
        topic=position.topic,
        partition=position.partition,
        offset=position.offset,
    )


def when(event: CloudEvent) -> tuple[datetime, date]:
    """The event's instant in UTC and the reporting day it falls on (the facts' time, day)."""
    instant = utc(event.time)
    return instant, local_day_of(instant, event.time, "time")


def payload(event: CloudEvent) -> Any:
    """The event's typed `data` (every family's events carry one)."""
    data = getattr(event, "data", None)
    assert isinstance(data, BaseModel)
    return data
