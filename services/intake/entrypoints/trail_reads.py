"""How trail reads share an intake process with publishing: their own index, limits and threads.

A read is charged to its caller's token bucket (the bearer token's hash, else the client
address) and must find one of the few global read slots free; past either it is answered
429 with Retry-After at once, never queued, so readers cannot pile up work that publishing
would wait behind. Publishing has its own limiter (`runtime.charge`) and never looks at this.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request

from services.common.credentials import hash_token
from services.common.settings import CommonSettings
from services.intake.domain.rate_limit import TokenBucket
from services.intake.entrypoints.problems import ProblemError
from services.intake.ledger.adapters.keys import Ed25519Verifier, LedgerKeyError, load_verifier
from services.intake.ledger.settings import LedgerSettings
from services.intake.ledger.trail_pool import RenderedTrail
from services.intake.ledger.trails import IndexBehind, TrailIndex

log = logging.getLogger(__name__)

_MAX_CALLERS = 10_000  # buckets kept; the least recently seen caller is forgotten first


class ReadLimiter:
    """Token buckets per caller (bounded in number) and a cap on reads in flight."""

    def __init__(self, rate: float, burst: int, max_in_flight: int) -> None:
        self.rate, self.burst, self.max_in_flight = rate, burst, max_in_flight
        self.in_flight = 0
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        """Hold a read slot for `caller`, or raise the 429 problem."""
        bucket = self._buckets.pop(caller, None) or TokenBucket(self.rate, self.burst)
        self._buckets[caller] = bucket
        if len(self._buckets) > _MAX_CALLERS:
            self._buckets.popitem(last=False)
        wait = bucket.take(1, time.monotonic())
        if wait > 0:
            raise _too_many(f"over the trail-read rate limit of {self.rate:g}/s", wait)
        if self.in_flight >= self.max_in_flight:
            raise _too_many(f"{self.in_flight} trail reads are being served; retry shortly", 1)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def _too_many(detail: str, wait: float) -> ProblemError:
    return ProblemError(
        429,
        "trail-reads-limited",
        detail,
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
        reason="trail_rate_limited",
    )


@dataclass
class TrailSource:
    """Where trails are read from: the ledger settings, the checkpoint key, the index."""

    settings: LedgerSettings
    verifier: Ed25519Verifier | None
    index: TrailIndex | None = None
    limiter: ReadLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = ReadLimiter(
            self.settings.trail_reads_per_second,
            self.settings.trail_read_burst,
            self.settings.trail_max_concurrent_reads,
        )

    async def trail(self, subject: str, witness: Mapping[str, int] | None = None) -> RenderedTrail:
        """The document from the index; 503 (problem, Retry-After) while it cannot answer."""
        if self.index is None:
            raise _unavailable("the trail index is not running in this process", 5)
        try:
            return await self.index.read(subject, witness)
        except IndexBehind as exc:
            raise _unavailable(str(exc), min(30, 1 + exc.lag // 10_000)) from exc
        except (KafkaError, LookupError, OSError, BrokenProcessPool) as exc:
            raise _unavailable(f"the ledger cannot be read: {exc}", 5) from exc

    async def consistency(self, chain: str, first: int, second: int) -> bytes | None:
        """The consistency proof document; 503 (problem, Retry-After) while it cannot answer."""
        if self.index is None:
            raise _unavailable("the trail index is not running in this process", 5)
        try:
            return await self.index.consistency(chain, first, second)
        except IndexBehind as exc:
            raise _unavailable(str(exc), min(30, 1 + exc.lag // 10_000)) from exc
        except (LookupError, OSError, BrokenProcessPool) as exc:
            raise _unavailable(f"the ledger cannot be read: {exc}", 5) from exc


def _unavailable(detail: str, retry_after: int) -> ProblemError:
    return ProblemError(
        503,
        "trail-unavailable",
        detail,
        headers={"Retry-After": str(retry_after)},
        reason="trail_unavailable",
    )


@dataclass(frozen=True)
class TrailReader:
    """One request's view: the app's trail source and who is asking."""

    source: TrailSource
    caller: str

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self.source.limiter.slot(self.caller)

    async def trail(self, subject: str, witness: Mapping[str, int] | None = None) -> RenderedTrail:
        return await self.source.trail(subject, witness)

    async def consistency(self, chain: str, first: int, second: int) -> bytes | None:
        return await self.source.consistency(chain, first, second)


def trail_source_for(state: Any) -> TrailSource:
    """Ledger settings from `app.state.ledger_settings`, else the intake app's Kafka settings."""
    settings = getattr(state, "ledger_settings", None)
    if not isinstance(settings, LedgerSettings):
        base = getattr(getattr(state, "intake", None), "settings", None)
        shared = ("kafka_bootstrap_servers", "topic_prefix", "data_dir")
        given = {name: getattr(base, name) for name in shared}
        # Constructed, not copied: the app id and the index directory follow the prefix.
        settings = LedgerSettings(**(given if isinstance(base, CommonSettings) else {}))
    try:
        verifier: Ed25519Verifier | None = load_verifier(settings)
    except LedgerKeyError as exc:
        # Without a key every checkpoint is offered; the offline verifier still checks them.
        log.warning("audit trail served without a checkpoint key: %s", exc)
        verifier = None
    return TrailSource(settings, verifier)


def app_trail_source(app: FastAPI) -> TrailSource:
    source = getattr(app.state, "audit_trail", None)
    if not isinstance(source, TrailSource):
        source = trail_source_for(app.state)
        app.state.audit_trail = source
    return source


def caller_of(request: Request) -> str:
    """Who a read is charged to: the bearer token (by hash), else the client address."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hash_token(token.strip())
    return "address:" + (request.client.host if request.client else "unknown")


async def get_trail_reader(request: Request) -> TrailReader:
    # async: a plain `def` dependency would cost a thread hand-off per request.
    return TrailReader(app_trail_source(request.app), caller_of(request))


@asynccontextmanager
async def trail_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open and tail the subject index while the app runs; intake starts whatever it does."""
    source = app_trail_source(app)
    try:
        source.index = TrailIndex(
            source.settings, source.verifier, readers=source.settings.trail_max_concurrent_reads
        )
    except Exception:  # publishing must not depend on the trail index
        log.exception("the trail index cannot be opened; trail reads answer 503")
        yield
        return
    index = source.index
    index.start()
    try:
        yield
    finally:
        source.index = None
        await index.aclose()
