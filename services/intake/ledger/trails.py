"""Trail documents from the subject index: a few keys per request, never a scan of the ledger.

`TrailIndex` owns one process's index (a RocksDB store under `QMS_DATA_DIR`, kept current by
a tail of the ledger and checkpoint topics) and builds a subject's document from it: the
segments and entries from the store, the subject's few event bodies from the event topic by
offset (one small fetch each: the index keeps no copy of the events), the document itself in
a reader process (`trail_pool.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.common.kafka_security import aiokafka_security
from services.intake.ledger import trail_pool
from services.intake.ledger.adapters.keys import Ed25519Verifier
from services.intake.ledger.adapters.trail_index import TrailIndexStore
from services.intake.ledger.adapters.trail_tailer import LedgerTailer
from services.intake.ledger.settings import LedgerSettings
from services.intake.ledger.trail_pool import RenderedTrail

T = TypeVar("T")

log = logging.getLogger(__name__)


class IndexBehind(Exception):
    """The index has not (yet) read as far as the ledger: a miss now may be a hit soon."""

    def __init__(self, lag: int, detail: str) -> None:
        super().__init__(detail)
        self.lag = lag


class TrailIndex:
    """The subject index of one process and the documents built from it."""

    def __init__(
        self, settings: LedgerSettings, verifier: Ed25519Verifier | None, *, readers: int = 2
    ) -> None:
        self.settings = settings
        self.store = TrailIndexStore(settings.trail_index_path())
        # The store's writes (one thread, the tailer's) and the reads (`readers` processes,
        # spawned on the first read) never run on the event loop.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="trail-index")
        self._pool_args = (readers, str(self.store.path), verifier.vkey if verifier else None)
        self._pool = self._new_pool()
        self.tailer = LedgerTailer(
            self.store,
            settings.kafka_bootstrap_servers,
            settings.topic(LEDGER_TOPIC),
            settings.topic(LEDGER_CHECKPOINTS_TOPIC),
            self._writer,
            security=aiokafka_security(settings),
        )
        self._task: asyncio.Task[None] | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        readers, primary, vkey = self._pool_args
        return ProcessPoolExecutor(
            readers,
            # spawn, not fork: this process runs an event loop, Kafka clients and RocksDB.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=trail_pool.open_reader,
            initargs=(primary, vkey),
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self.tailer.run(), name="trail-index-tailer")

    async def aclose(self) -> None:
        # Each step bounded: a tailer stuck in a broker call or a reader process that does
        # not answer must never keep intake from stopping (its state is rebuilt on start).
        if self._task is not None:
            self._task.cancel()
            await _within(asyncio.gather(self._task, return_exceptions=True))
        await _within(asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True))
        await _within(asyncio.to_thread(self._writer.shutdown, wait=True))
        self.store.close()

    async def read(self, subject: str, witness: Mapping[str, int] | None = None) -> RenderedTrail:
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
        rendered: RenderedTrail = await self._in_pool(
            trail_pool.read,
            subject,
            self.settings.trail_max_segment_entries,
            self.settings,
            dict(witness or {}),
        )
        if not rendered.chains and not reached:
            lag = tailer.lag(ends)
            raise IndexBehind(lag, f"the trail index is {lag} ledger records behind")
        return rendered

    async def consistency(self, chain: str, first: int, second: int) -> bytes | None:
        """The consistency proof document between two tree sizes (`trail_pool.consistency`)."""
        tailer = self.tailer
        reached = await tailer.wait_for(dict(tailer.ends), self.settings.trail_wait_ms / 1000)
        if not tailer.ready or not reached:
            raise IndexBehind(tailer.lag(), "the trail index is still reading the ledger")
        result: bytes | None = await self._in_pool(trail_pool.consistency, chain, first, second)
        return result

    async def document(self, subject: str) -> dict[str, Any]:
        """`read`, parsed (for tests and tools; the endpoint sends the bytes as they are)."""
        document: dict[str, Any] = json.loads((await self.read(subject)).body)
        return document

    async def _in_pool(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, function, *args)
        except BrokenProcessPool:
            # A reader process died (killed, out of memory): the next read gets new ones.
            log.error("a trail reader process died; starting new ones")
            self._pool = self._new_pool()
            raise


CLOSE_STEP_S = 10.0


async def _within(step: Awaitable[object]) -> None:
    try:
        await asyncio.wait_for(step, CLOSE_STEP_S)
    except TimeoutError:
        log.warning("trail index: a closing step did not end in %.0f s; going on", CLOSE_STEP_S)
