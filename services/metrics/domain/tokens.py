"""Insert deduplication tokens: the same batch of records always gets the same token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from services.common.deadletter import RecordPosition


def batch_token(positions: Iterable[RecordPosition]) -> str:
    """Token from each (topic, partition)'s first and last offset in the batch.

    A redelivered batch (same records after a crash before the offset commit) gets the
    same token, so ClickHouse drops the repeated block. Batches cut differently after a
    restart get another token; the replacing keys and the views' uniqExact cover those.
    """
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for p in positions:
        low, high = spans.get((p.topic, p.partition), (p.offset, p.offset))
        spans[(p.topic, p.partition)] = (min(low, p.offset), max(high, p.offset))
    text = ";".join(f"{t}:{part}:{lo}-{hi}" for (t, part), (lo, hi) in sorted(spans.items()))
    return hashlib.sha256(text.encode()).hexdigest()
