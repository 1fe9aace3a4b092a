"""Helper processes that map batches while the caller inserts the one before.

Mapping a record (parse, validate, build rows) and inserting it (clickhouse-connect builds
the insert block in Python) both need the interpreter lock, so a thread cannot overlap
them; other processes can, and a replay then uses every core instead of one. Only the
(position, value) pairs go to a helper and only the rows come back (`MappedRows`).

The helpers are spawned, not forked: the caller holds ClickHouse engine and Kafka client
threads, which a forked child would inherit in whatever state they were. Until they have
imported the mapping (about a second), and for good once one fails, batches are mapped
here in the caller: a helper changes how fast a batch is mapped, never what it maps to.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from services.metrics.domain.rows import MappedRows, map_values
from services.metrics.service_layer.ingestion import Record, values_of

log = logging.getLogger(__name__)


class MappingProcesses:
    """`map` a batch in a helper process once they are up, in the caller until then."""

    def __init__(self, processes: int) -> None:
        """Start `processes` helpers (none: every batch is mapped in the caller)."""
        self.processes = processes
        self.batches_mapped_apart = 0
        self._pool: ProcessPoolExecutor | None = None
        self._ready: list[Future[MappedRows]] = []
        if processes:
            self._pool = ProcessPoolExecutor(
                max_workers=processes, mp_context=multiprocessing.get_context("spawn")
            )
            # One empty batch per process: each is spawned at once and imports the mapping.
            self._ready = [self._pool.submit(map_values, []) for _ in range(processes)]

    @property
    def up(self) -> bool:
        """True once every helper process has started, until one fails."""
        return self._pool is not None and all(started.done() for started in self._ready)

    async def wait_until_up(self) -> None:
        """Return once every helper has started (raises if one could not)."""
        await asyncio.gather(*(asyncio.wrap_future(started) for started in self._ready))

    async def map(self, records: Sequence[Record]) -> MappedRows:
        """The batch's rows; the caller's event loop runs on while a helper maps."""
        values = values_of(records)
        pool = self._pool
        if pool is None or not self.up:
            return map_values(values)
        try:  # a helper that failed to start has broken the pool: the submit raises
            mapped = await asyncio.wrap_future(pool.submit(map_values, values))
        except Exception as exc:  # `map_values` refuses records, never raises: the helper failed
            log.warning("mapping process failed (%r); mapping in this process from now on", exc)
            self.close()
            return map_values(values)
        self.batches_mapped_apart += 1
        return mapped

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> MappingProcesses:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
