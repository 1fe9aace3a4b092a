"""Trail documents from the subject index: a few keys per request, never a scan of the ledger.

`TrailIndex` owns one process's index (a RocksDB store under `QMS_DATA_DIR`, kept current by
a tail of the ledger and checkpoint topics) and builds a subject's document from it: the
segments and entries from the store, the subject's few event bodies from the event topic by
offset, the document itself in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.intake.ledger.adapters.kafka import fetch_values
from services.intake.ledger.adapters.trail_index import TrailIndexStore
from services.intake.ledger.adapters.trail_tailer import LedgerTailer
from services.intake.ledger.domain.chain import LedgerEntry, chain_key
from services.intake.ledger.domain.note import Verifier
from services.intake.ledger.domain.trail import Segment, trail_from_segments
from services.intake.ledger.settings import LedgerSettings

log = logging.getLogger(__name__)


class IndexBehind(Exception):
    """The index has not (yet) read as far as the ledger: a miss now may be a hit soon."""

    def __init__(self, lag: int, detail: str) -> None:
        super().__init__(detail)
        self.lag = lag


class TrailIndex:
    """The subject index of one process and the documents built from it."""

    def __init__(
        self, settings: LedgerSettings, verifier: Verifier | None, *, threads: int = 2
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        # Its own threads: the store, the document and its JSON never run on the event loop,
        # nor in a pool that anything else waits for.
        self.executor = ThreadPoolExecutor(threads + 1, thread_name_prefix="trail")
        self.store = TrailIndexStore(settings.trail_index_path())
        self.tailer = LedgerTailer(
            self.store,
            settings.kafka_bootstrap_servers,
            settings.topic("ledger.v1"),
            settings.topic("ledger.checkpoints.v1"),
            self.executor,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.tailer.run(), name="trail-index-tailer")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.executor.shutdown, wait=True)
        self.store.close()

    async def document(self, subject: str) -> dict[str, Any]:
        """The trail of `subject` as far as the ledger is indexed (no chains: none chained).

        Waits up to `QMS_TRAIL_WAIT_MS` for the index to reach the ledger's end as last seen
        (and to have read the ledger once, after a start); raises `IndexBehind` rather than
        answering "none" while the index still lags.
        """
        tailer = self.tailer
        ends = dict(tailer.ends)  # as last seen; empty before the tail started
        reached = await tailer.wait_for(ends, self.settings.trail_wait_ms / 1000)
        if not tailer.ready:
            raise IndexBehind(
                tailer.lag(),
                "the trail index is still reading the ledger"
                + (f" ({tailer.error})" if tailer.error else f": {tailer.lag()} records to go"),
            )
        loop = asyncio.get_running_loop()
        planned = await loop.run_in_executor(
            self.executor,
            self.store.plan,
            subject,
            self.verifier,
            self.settings.trail_max_segment_entries,
        )
        if not planned and not reached:
            lag = tailer.lag(ends)
            raise IndexBehind(lag, f"the trail index is {lag} ledger records behind")
        values = await fetch_values(self.settings.kafka_bootstrap_servers, _wanted(planned))
        by_chain = {(chain_key(t, p), offset): value for (t, p, offset), value in values.items()}
        return await loop.run_in_executor(
            self.executor, trail_from_segments, subject, planned, by_chain
        )

    async def render(self, document: dict[str, Any]) -> bytes:
        """The JSON of a document, off the event loop (a long segment is a large document)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, _json, document)


def _wanted(planned: list[tuple[Segment, list[LedgerEntry]]]) -> dict[tuple[str, int], list[int]]:
    wanted: dict[tuple[str, int], list[int]] = defaultdict(list)
    for segment, entries in planned:
        for entry in entries:
            if entry.seq in segment.seqs:
                wanted[(entry.topic, entry.partition)].append(entry.offset)
    return wanted


def _json(document: dict[str, Any]) -> bytes:
    # As Starlette's JSONResponse renders it; an event must stay canonicalisable to its leaf.
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
