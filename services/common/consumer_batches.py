"""Batches of a plain aiokafka consumer: what `getmany` brought, one unbroken run per partition.

The metrics and ledger workers build their group consumer here and take their records this
way, committing (or chaining) a batch as a whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.backoff import Backoff
from services.common.kafka_security import kafka_client_options
from services.common.settings import CommonSettings

Taken = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


def batch_consumer(
    settings: CommonSettings,
    *topics: str,
    group: str,
    client_id: str,
    session_timeout_s: float,
    max_partition_fetch_bytes: int,
) -> AIOKafkaConsumer:
    """A group consumer that commits only what its worker commits and starts a partition
    never committed at its first record; heartbeats every third of the session timeout (at
    most 3 s)."""
    return AIOKafkaConsumer(
        *topics,
        **kafka_client_options(settings),
        client_id=client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(session_timeout_s * 1000),
        heartbeat_interval_ms=int(min(3.0, session_timeout_s / 3) * 1000),
        max_partition_fetch_bytes=max_partition_fetch_bytes,
    )


class FetchFailed(Exception):
    """The consumer could not fetch (the broker away, an authorisation refused)."""


def offsets_to_commit(
    taken: Taken, assigned: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Per partition still assigned, the offset after the last record of the batch."""
    owned = set(assigned)
    return {tp: records[-1].offset + 1 for tp, records in taken.items() if tp in owned and records}


async def take_batch(consumer: Any, size: int, within_s: float) -> Taken:
    """Up to `size` records, waiting at most `within_s` after the first came (none: empty).

    Each partition's records are one unbroken run of reads: records that do not follow the
    batch's last one of their partition (the partition was read again from its committed
    offset after a rebalance) end the batch, and the partition is sought back to them so
    that they open the next one. A fetch that fails ends the batch with what it has.
    """
    loop = asyncio.get_running_loop()
    taken: Taken = {}
    count = 0
    deadline: float | None = None
    while count < size:
        wait_s = within_s if deadline is None else deadline - loop.time()
        if wait_s <= 0:
            break
        try:
            fetched = await consumer.getmany(
                timeout_ms=max(1, int(wait_s * 1000)), max_records=size - count
            )
        except Exception as exc:  # the broker away, a refused authorisation, a client bug
            if taken:
                break
            raise FetchFailed(exc) from exc
        broken = False
        for tp, records in fetched.items():
            if not records:
                continue
            held = taken.setdefault(tp, [])
            if held and records[0].offset != held[-1].offset + 1:
                consumer.seek(tp, records[0].offset)  # read again, first in the next batch
                broken = True
                continue
            held.extend(records)
            count += len(records)
        if not count:
            break  # nothing within the wait: the caller asks again
        if deadline is None:
            deadline = loop.time() + within_s
        if broken:
            break
    return {tp: records for tp, records in taken.items() if records}


async def fetch_batch(
    consumer: Any, size: int, within_s: float, backoff: Backoff, log: logging.Logger
) -> tuple[Taken, float]:
    """`take_batch`, and how long to wait before the next one: none after a fetch (the
    backoff starts over), the backoff's next delay after a failed one (logged)."""
    try:
        taken = await take_batch(consumer, size, within_s)
    except FetchFailed as failed:
        delay = backoff.next_delay()
        log.warning("fetch failed (%s); retrying in %.1fs", failed.__cause__, delay)
        return {}, delay
    backoff.succeeded()
    return taken, 0.0
