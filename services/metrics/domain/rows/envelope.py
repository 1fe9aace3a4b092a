"""The raw `events` table (deploy/clickhouse/0001): every event as it arrived."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel

from schemas.envelope import CloudEvent
from services.common.deadletter import RecordPosition
from services.common.working_days import vietnam_calendar
from services.metrics.domain.rows.values import REPORTING_TZ, local_day_of, utc

LATE_SPAN_LIMIT = (1 << 15) - 1  # what the Int16 column holds


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
    recorded_time: datetime | None
    recorded_working_days_late: int | None
    publisher: str | None
    data: str
    topic: str
    partition: int
    offset: int


def event_row(event: CloudEvent, raw: Mapping[str, Any], position: RecordPosition) -> EventRow:
    instant = utc(event.time)
    received = utc(event.receivedtime, "receivedtime") if event.receivedtime else None
    recorded = utc(event.recordedtime, "recordedtime") if event.recordedtime else None
    recorded_at = event.recorded_at  # the originating system's time, else intake's
    return EventRow(
        source=event.source,
        id=event.id,
        type=event.type,
        family=event.family,
        subject=event.subject,
        agency=event.agencycode,
        time=instant,
        received_time=received,
        recorded_time=recorded,
        recorded_working_days_late=None
        if recorded_at is None
        else working_days_late(instant, recorded_at),
        publisher=event.publisher,
        data=json.dumps(raw.get("data"), ensure_ascii=False, separators=(",", ":")),
        topic=position.topic,
        partition=position.partition,
        offset=position.offset,
    )


def working_days_late(happened: datetime, recorded: datetime) -> int | None:
    """How many working days after the local day an event happened it was recorded
    (docs/kpis.md, "Timeliness of updates"); None when a year of the two has no calendar."""
    calendar = vietnam_calendar()
    start, end = (moment.astimezone(REPORTING_TZ).date() for moment in (happened, recorded))
    if not (calendar.covers(start) and calendar.covers(end)):
        return None
    # Int16 in the store; negative for an event dated after its recording (clock skew).
    return max(-LATE_SPAN_LIMIT, min(LATE_SPAN_LIMIT, calendar.working_days_between(start, end)))


def when(event: CloudEvent) -> tuple[datetime, date]:
    """The event's instant in UTC and the reporting day it falls on (the facts' time, day)."""
    instant = utc(event.time)
    return instant, local_day_of(instant, event.time, "time")


def payload(event: CloudEvent) -> Any:
    """The event's typed `data` (every family's events carry one)."""
    data = getattr(event, "data", None)
    assert isinstance(data, BaseModel)
    return data
