"""Consumer lag per topic-partition, read from the broker every few seconds.

Lag is the group's committed offset against the partition's end offset, as the broker sees
them, so it counts what a crash would redeliver and is the same whichever worker of the group
reports it (dashboards take the max over instances). A partition the group never committed
counts from its first offset (the consumers start at the earliest).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.periodic import Periodic
from services.common.service_metrics import CONSUMER_LAG, CONSUMER_LAG_REFRESHED

log = logging.getLogger(__name__)

EndOffsets = Mapping[TopicPartition, int]


def lag_by_partition(
    ends: EndOffsets, committed: Mapping[TopicPartition, int], beginnings: EndOffsets
) -> dict[TopicPartition, int]:
    """Records of each partition past the group's committed offset (never negative)."""
    return {tp: max(0, end - committed.get(tp, beginnings.get(tp, 0))) for tp, end in ends.items()}


@dataclass(frozen=True)
class LagReading:
    """One read of a group's lag: per partition, and when it was read (wall clock)."""

    group: str
    lag: Mapping[TopicPartition, int]
    read_at: datetime

    @property
    def caught_up(self) -> bool:
        """The group has committed every record the broker holds on its topics."""
        return not any(self.lag.values())

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a stats endpoint (`consumer` in /v1/stats)."""
        partitions = sorted(self.lag.items(), key=lambda item: (item[0].topic, item[0].partition))
        return {
            "group": self.group,
            "read_at": self.read_at.isoformat(),
            "caught_up": self.caught_up,
            "lag": sum(self.lag.values()),
            "partitions": [
                {"topic": tp.topic, "partition": tp.partition, "lag": records}
                for tp, records in partitions
            ],
        }


class ConsumerLagMonitor:
    """Reads one consumer group's lag on `topics` and sets `qms_consumer_lag_records`.

    `refresh` opens short-lived clients each time: one round trip every interval, no state to
    keep across broker restarts. `on_end_offsets` receives the end offsets it read (the ledger
    derives its own lag from them). `client_options` go to both aiokafka clients as they are.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        topics: Iterable[str],
        *,
        on_end_offsets: Callable[[EndOffsets], None] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group = group
        self.topics = tuple(topics)
        self.on_end_offsets = on_end_offsets
        self.client_options = dict(client_options or {})
        self._reading = asyncio.Lock()

    async def refresh(self) -> dict[TopicPartition, int]:
        """Read and publish the lag once; a broker outage only logs (the next tick retries)."""
        try:
            reading = await self.read()
        except Exception as exc:
            log.warning("consumer lag of %s not read: %s: %s", self.group, type(exc).__name__, exc)
            return {}
        return dict(reading.lag)

    async def read(self) -> LagReading:
        """Read the lag from the broker now and publish it (raises when the broker does not
        answer); one read at a time."""
        async with self._reading:
            lag, ends = await self._read()
        self._publish(lag, ends)
        return LagReading(self.group, lag, datetime.now(UTC))

    def _publish(self, lag: Mapping[TopicPartition, int], ends: EndOffsets) -> None:
        for tp, records in lag.items():
            CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(records)
        CONSUMER_LAG_REFRESHED.labels(self.group).set(time.time())
        if self.on_end_offsets is not None:
            self.on_end_offsets(ends)

    async def _read(self) -> tuple[dict[TopicPartition, int], EndOffsets]:
        options = {"bootstrap_servers": self.bootstrap_servers, **self.client_options}
        admin = AIOKafkaAdminClient(**options)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group)
            described = await admin.describe_topics(list(self.topics))
        finally:
            await admin.close()
        tps = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0  # a topic not there (yet) has no lag to report
            for partition in topic["partitions"]
        ]
        if not tps:
            return {}, {}
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **options)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
            beginnings = await consumer.beginning_offsets(tps)
        finally:
            await consumer.stop()
        committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return lag_by_partition(ends, committed, beginnings), ends


def lag_refresh(monitor: ConsumerLagMonitor, interval_s: float) -> Periodic:
    """Refresh `monitor` every `interval_s` seconds (every worker of the group)."""

    async def refresh_consumer_lag() -> None:
        await monitor.refresh()

    return Periodic(f"consumer-lag-{monitor.group}", interval_s, refresh_consumer_lag)


def install_lag_monitor(app: Any, monitor: ConsumerLagMonitor, interval_s: float) -> None:
    """`lag_refresh` on a timer of the faust `app`."""
    timer = lag_refresh(monitor, interval_s)
    app.timer(interval=timer.interval_s, name=timer.name)(timer.tick)
