"""Get back the records faust-streaming 0.15.3 drops when a rebalance ends.

When a rebalance ends (table recovery included) faust seeks every partition to its committed
offset, then resumes the flow, counting on that seek to fetch again the records it cleared
from the agents' buffers. But aiokafka's seek to the committed offset does nothing for a
partition whose committed offset is none or 0 (new topics), so the records fetched before
the clearing are silently lost there.

The fix: as the rebalance completes, while the flow is still stopped, seek the topics'
assigned partitions to the committed offset faust knows or, failing that, to the beginning;
faust's own seek, which comes next, then moves every partition with a real committed offset
to it. Seeking later, once the flow is running again, races with the batch faust is already
delivering: that batch moves faust's read offsets past the records the seek brings back and
faust drops them as already read. Only for topics whose consumer is idempotent: what was
processed after the commit comes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

import faust
from faust.types import TP

log = logging.getLogger(__name__)


class RebalanceEnd(faust.Sensor):
    """Calls `callback` once a rebalance has fully completed and the flow runs again."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback = callback

    def on_rebalance_end(self, app: faust.types.AppT, state: dict[str, Any]) -> None:
        self._callback()


def committed_positions(app: faust.types.AppT, topics: Collection[str]) -> dict[TP, int]:
    """Each assigned partition of `topics` → the committed offset faust knows, else 0."""
    # faust keeps None for "never committed" (and for 0) and forgets revoked partitions; a
    # partition newly assigned is unknown here, and faust's seek that follows moves it on to
    # its real committed offset. Offset 0 on a partition whose log start moved on is fine:
    # auto_offset_reset=earliest takes over.
    committed: Any = getattr(app.consumer, "_committed_offset", {})
    return {
        tp: committed.get(tp) or 0 for tp in app.assignor.assigned_actives() if tp.topic in topics
    }


async def seek_to_committed(app: faust.types.AppT, topics: Collection[str]) -> None:
    """Seek the assigned partitions of `topics` to their committed offsets (or beginnings)."""
    positions = committed_positions(app, topics)
    if not positions:
        return
    # Not caught: faust's recovery then fails this rebalance's end and recovers again rather
    # than resuming the flow with records lost.
    await app.consumer.seek_wait(positions)
    log.info(
        "re-reading from the committed offsets after the rebalance: %s",
        ", ".join(
            f"{tp.topic}/{tp.partition}@{offset}" for tp, offset in sorted(positions.items())
        ),
    )


def reread_from_committed_after_rebalance(app: faust.App, topics: Collection[str]) -> None:
    """As every rebalance completes, re-read `topics` from their committed offsets."""
    names = frozenset(topics)

    async def on_rebalance_complete(sender: Any, **_: Any) -> None:
        # Sent by the recovery before its own seek to the committed offsets and before the
        # flow resumes: nothing is being delivered while this seeks.
        await seek_to_committed(app, names)

    app.on_rebalance_complete.connect(on_rebalance_complete)  # type: ignore[arg-type]
