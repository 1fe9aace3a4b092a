"""The ledger's own health for /metrics: how far each chain trails its partition, and how
long its newest entries have gone without a signed checkpoint.

Only the worker owning a chain reports it (after a rebalance the others drop it), so the
dashboards' max over instances is the owner's figure.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping

from aiokafka import TopicPartition

from services.common.service_metrics import LEDGER_CHECKPOINT_AGE, LEDGER_LAG
from services.intake.ledger.domain.chain import ChainHead, chain_key


class ChainHealth:
    """Tracks, per chain of this worker, when its first entry not covered by a checkpoint
    was chained; `checkpoint_age` is 0 when every entry is anchored."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.unanchored_since: dict[str, float] = {}
        self.reported: set[str] = set()

    def chained(self, key: str, size: int, checkpointed: int) -> None:
        """The chain's head moved to `size`; the last checkpoint covers `checkpointed`."""
        if size > checkpointed:
            self.unanchored_since.setdefault(key, self.clock())
        else:
            self.unanchored_since.pop(key, None)
        self._report(key)

    def anchored(self, key: str, checkpoint_size: int, head_size: int) -> None:
        """A checkpoint of `checkpoint_size` was published; the chain stands at `head_size`."""
        if checkpoint_size >= head_size:
            self.unanchored_since.pop(key, None)
        self._report(key)

    def checkpoint_age(self, key: str) -> float:
        since = self.unanchored_since.get(key)
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def keep_only(self, owned: Collection[str]) -> None:
        """After a rebalance: stop reporting the chains another worker now owns."""
        for key in list(self.reported - set(owned)):
            self.unanchored_since.pop(key, None)
            self.reported.discard(key)
            for gauge in (LEDGER_CHECKPOINT_AGE, LEDGER_LAG):
                with contextlib.suppress(KeyError):  # never reported under that label
                    gauge.remove(key)

    def _report(self, key: str) -> None:
        if key not in self.reported:
            self.reported.add(key)
            LEDGER_CHECKPOINT_AGE.labels(key).set_function(lambda: self.checkpoint_age(key))

    def lagging(
        self, ends: Mapping[TopicPartition, int], heads: Mapping[TopicPartition, ChainHead]
    ) -> None:
        """Report each owned chain's lag behind the end offsets the lag monitor read."""
        for key, records in ledger_lag(ends, heads).items():
            LEDGER_LAG.labels(key).set(records)
            self._report(key)


def ledger_lag(
    ends: Mapping[TopicPartition, int], heads: Mapping[TopicPartition, ChainHead]
) -> dict[str, int]:
    """Records of each owned partition past its chain head (end offset - next offset to chain)."""
    return {
        chain_key(tp.topic, tp.partition): max(0, ends[tp] - (head.last_offset + 1))
        for tp, head in heads.items()
        if tp in ends
    }
