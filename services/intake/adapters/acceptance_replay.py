"""Rebuild the idempotency window at start-up by reading recent acceptances back from Kafka.

The event topics are the record of what intake accepted; every record carries `id`,
`source` and `receivedtime`, and its timestamp is the receipt time, so `offsets_for_times`
finds where the window starts on each partition. Intake writes what the window needs
(key, receipt, content digest) in a header (`service_layer.acceptance_header`); for a
record without one the content digest is computed again from the value, so a resent id
with other content is still a conflict after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic_core import from_json

from schemas import EventValidationError, parse_event
from services.intake.domain.acceptance import Acceptance
from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.service_layer.acceptance_header import read_acceptance_header
from services.intake.service_layer.content import (
    content_digest,
    event_digest,
    record_digest,
    stamp_json,
)
from services.intake.service_layer.ports import Position


async def replay_acceptances(
    bootstrap_servers: str,
    partitions_by_topic: Mapping[str, Iterable[int]],
    index: AcceptanceIndex,
    now: datetime,
    *,
    security: Mapping[str, Any] | None = None,
) -> int:
    """Fill `index` with the acceptances of the window; return how many records were read."""
    partitions = [
        TopicPartition(topic, partition)
        for topic, numbers in partitions_by_topic.items()
        for partition in sorted(numbers)
    ]
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id="qms-intake-replay",
        group_id=None,
        enable_auto_commit=False,
        **(security or {}),
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        since_ms = int((now - index.window).timestamp() * 1000)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        remaining = {}
        for tp in partitions:
            start = starts.get(tp)
            if start is None or start.offset >= ends[tp]:
                continue
            consumer.seek(tp, start.offset)
            remaining[tp] = ends[tp]
        read = 0
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= remaining.get(tp, -1):
                        continue
                    read += 1
                    acceptance = acceptance_from_record(
                        tp, message.offset, message.value, message.headers
                    )
                    if acceptance is not None:
                        index.remember(acceptance)
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
        return read
    finally:
        await consumer.stop()


def acceptance_from_record(
    tp: TopicPartition,
    offset: int,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] = (),
) -> Acceptance | None:
    """Only what the index needs; a record that is not an accepted event is skipped.

    From intake's acceptance header when the record has one (no JSON read), else from
    the value."""
    told = read_acceptance_header(headers, Position(tp.topic, tp.partition, offset))
    if told is not None:
        return told
    try:
        # pydantic-core's parser: about twice as fast as json.loads, and every replica with
        # a shared window parses every accepted event.
        body = from_json(value or b"")
        received = datetime.fromisoformat(body["receivedtime"])
        content = _content(value or b"", body)
        return Acceptance(
            id=str(body["id"]),
            source=str(body["source"]),
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            receivedtime=received,
            content=content,
        )
    except (ValueError, KeyError, TypeError):
        return None


def _content(value: bytes, body: dict[str, Any]) -> bytes:
    """The digest admission computed: from the bytes when intake wrote them, else the model."""
    publisher = body.get("publisher")
    if isinstance(publisher, str):
        traceparent = body.get("traceparent")
        stamp = stamp_json(str(body["receivedtime"]), publisher, traceparent)
        digest = record_digest(value, stamp)
        if digest is not None:
            return digest
    try:
        return event_digest(parse_event(body))
    except EventValidationError:
        # Accepted under an older contract: digest the record as it lies (minus the stamp).
        unstamped = {k: v for k, v in body.items() if k not in ("receivedtime", "publisher")}
        return content_digest(json.dumps(unstamped, sort_keys=True).encode())
