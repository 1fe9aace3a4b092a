"""What a running intake app holds: settings, credentials, limits, the service, the producer."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from services.common.tracing import NO_TRACING, Tracing
from services.intake.adapters.publisher_registry import PublisherRegistry
from services.intake.config import IntakeSettings
from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.domain.publishers import Publisher
from services.intake.domain.rate_limit import RateLimiter
from services.intake.entrypoints.observability import IntakeMetrics
from services.intake.entrypoints.problems import ProblemError
from services.intake.service_layer.publishing import PublishingService


@dataclass
class IntakeRuntime:
    settings: IntakeSettings
    registry: PublisherRegistry
    metrics: IntakeMetrics
    limiter: RateLimiter
    index: AcceptanceIndex
    topics: list[str]
    producer: Any = None
    service: PublishingService | None = None
    not_ready: str | None = "starting: the producer and the idempotency window are loading"
    authenticators: list[Any] = field(default_factory=list)
    tracing: Tracing = NO_TRACING

    def publishing(self) -> PublishingService:
        if self.service is None:
            raise ProblemError(
                503,
                "not-ready",
                self.not_ready or "not ready",
                headers={"Retry-After": "1"},
                reason="not_ready",
            )
        return self.service

    def charge(self, publisher: Publisher, events: int) -> None:
        """Take `events` tokens from the publisher's bucket or answer 429 (413 if it never fits)."""
        wait = self.limiter.take(
            publisher.name,
            events,
            time.monotonic(),
            rate=publisher.events_per_second,
            burst=publisher.burst,
        )
        if wait == 0:
            return
        if math.isinf(wait):
            raise ProblemError(
                413,
                "batch-over-rate-limit-burst",
                f"{events} events in one request exceed publisher {publisher.name!r}'s burst of "
                f"{self.limiter.burst_of(publisher.name)} events; send smaller batches",
                reason="over_burst",
            )
        raise ProblemError(
            429,
            "rate-limited",
            f"publisher {publisher.name!r} is over its rate limit; retry after {wait:.2f} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
            reason="rate_limited",
        )


async def get_runtime(request: Request) -> IntakeRuntime:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hand-off per request on the hot path.
    runtime: IntakeRuntime = request.app.state.intake
    return runtime


Runtime = Annotated[IntakeRuntime, Depends(get_runtime)]
