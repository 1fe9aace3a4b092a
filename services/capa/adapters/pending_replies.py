"""Commands waiting for their decision in this process, matched by a correlation header.

An HTTP command goes onto the commands topic with two headers: the id of the process that
waits (`qms-reply-to`, one per process start) and a request id (`qms-request-id`). The
command agent of the partition's owner decides it and, when the correlation names this
process, resolves the waiting future here. Nothing goes back over Kafka: the API and the
worker share one process, and a command is only sent from the process that owns its
partition. A reply that names another (or an earlier) process is dropped; its caller timed
out (503, Retry-After) and a retry with an expected version cannot apply twice.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

REPLY_TO = "qms-reply-to"
REQUEST_ID = "qms-request-id"
PROBE = "qms-probe"  # a readiness probe: echoed, never decided


@dataclass(frozen=True)
class Correlation:
    """Who waits for a command's decision."""

    instance_id: str
    request_id: str
    probe: bool = False

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [(REPLY_TO, self.instance_id.encode()), (REQUEST_ID, self.request_id.encode())]
        if self.probe:
            headers.append((PROBE, b"1"))
        return headers

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any] | None) -> Correlation | None:
        """The correlation of a record (None for commands nobody waits for: policies, timer)."""
        if not headers:
            return None
        reply_to, request_id = headers.get(REPLY_TO), headers.get(REQUEST_ID)
        if not isinstance(reply_to, bytes) or not isinstance(request_id, bytes):
            return None
        return cls(reply_to.decode(), request_id.decode(), probe=headers.get(PROBE) == b"1")


class WaiterGone(Exception):
    """The decision will not come to this process (partition moved, or shutting down)."""


class PendingReplies:
    """The futures of the commands this process sent and still waits for."""

    def __init__(self, instance_id: str | None = None) -> None:
        self.instance_id = instance_id or uuid.uuid4().hex
        self._numbers = itertools.count(1)
        self._waiting: dict[str, tuple[int, asyncio.Future[Any]]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def register(
        self, partition: int, *, probe: bool = False
    ) -> tuple[Correlation, asyncio.Future[Any]]:
        """A new correlation for a command sent to `partition`, and the future it resolves."""
        correlation = Correlation(self.instance_id, str(next(self._numbers)), probe)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[correlation.request_id] = (partition, future)
        return correlation, future

    def forget(self, correlation: Correlation) -> None:
        """The caller stopped waiting (timed out): a late reply is dropped."""
        self._waiting.pop(correlation.request_id, None)

    def resolve(self, correlation: Correlation | None, reply: Any) -> bool:
        """Hand `reply` to the waiting caller; False when nobody here waits for it."""
        if correlation is None or correlation.instance_id != self.instance_id:
            return False
        entry = self._waiting.pop(correlation.request_id, None)
        if entry is None or entry[1].done():
            return False
        entry[1].set_result(reply)
        return True

    def fail_unless_owned(self, owned_partitions: Collection[int]) -> None:
        """After a rebalance: commands on partitions now owned elsewhere get no reply here."""
        for request_id, (partition, future) in list(self._waiting.items()):
            if partition not in owned_partitions:
                del self._waiting[request_id]
                if not future.done():
                    future.set_exception(
                        WaiterGone(f"partition {partition} moved to another worker")
                    )

    def fail_all(self, why: str) -> None:
        """On shutdown: every caller gets its answer (503) now, not at its timeout."""
        waiting, self._waiting = self._waiting, {}
        for _, future in waiting.values():
            if not future.done():
                future.set_exception(WaiterGone(why))
