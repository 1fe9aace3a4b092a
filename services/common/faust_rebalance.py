"""Get back the records faust-streaming 0.15.3 drops when a rebalance ends.

When a rebalance ends (table recovery included) faust seeks every partition to its committed
offset, then resumes the flow and clears the agents' buffers, counting on that seek to fetch
the buffered records again. But the seek comes before the buffers are cleared, and for a
partition that never committed (new topics: no committed offset) aiokafka's seek does
nothing, so records fetched during recovery are silently lost. The fix: once the rebalance
has ended, seek again, to the committed offset or to the beginning when there is none. Only
for topics whose consumer is idempotent: what was processed after the commit comes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any

import faust
from faust.types import TP

log = logging.getLogger(__name__)


class RebalanceEnd(faust.Sensor):
    """Calls `callback` once a rebalance has fully completed (table recovery included)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback = callback

    def on_rebalance_end(self, app: faust.types.AppT, state: dict[str, Any]) -> None:
        self._callback()


def committed_positions(app: faust.types.AppT, topics: Collection[str]) -> dict[TP, int]:
    """Each assigned partition of `topics` → its committed offset, 0 when it has none."""
    # faust refreshes `_committed_offset` from Kafka just before the rebalance ends and on
    # each of its own commits; it keeps None for "never committed" (and for 0). Offset 0 on a
    # partition whose log start moved on is fine: auto_offset_reset=earliest takes over.
    committed: Any = getattr(app.consumer, "_committed_offset", {})
    return {
        tp: committed.get(tp) or 0 for tp in app.assignor.assigned_actives() if tp.topic in topics
    }


async def seek_to_committed(app: faust.types.AppT, topics: Collection[str]) -> None:
    """Seek the assigned partitions of `topics` to their committed offsets (or beginnings)."""
    generation = app.consumer_generation_id
    positions = committed_positions(app, topics)
    if not positions or app.consumer_generation_id != generation:
        return  # a newer rebalance is under way; its end seeks again
    try:
        await app.consumer.seek_wait(positions)
    except Exception:  # e.g. revoked meanwhile: the next rebalance's end seeks again
        log.exception("could not seek back to the committed offsets")
        return
    log.info(
        "re-reading from the committed offsets after the rebalance: %s",
        ", ".join(
            f"{tp.topic}/{tp.partition}@{offset}" for tp, offset in sorted(positions.items())
        ),
    )


def reread_from_committed_after_rebalance(app: faust.App, topics: Collection[str]) -> None:
    """After every completed rebalance, re-read `topics` from their committed offsets."""
    seeking: set[asyncio.Task[None]] = set()  # strong references until done

    def on_rebalance_end() -> None:
        # After faust's own seek to the committed offsets and the clearing of the buffers.
        task = asyncio.ensure_future(seek_to_committed(app, frozenset(topics)))
        seeking.add(task)
        task.add_done_callback(seeking.discard)

    app.sensors.add(RebalanceEnd(on_rebalance_end))
