"""A token bucket per publisher, counted in events; time is passed in, so it is pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate` per second."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, count: int, now: float) -> float:
        """Take `count` tokens; return 0 if granted, else the seconds to wait before retrying.

        A refused request takes nothing. A request larger than the whole bucket can never
        pass, so its wait is infinite (the caller refuses it outright).
        """
        if self.updated is not None and now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(now, self.updated)
        if count > self.burst:
            return float("inf")
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / self.rate


class RateLimiter:
    """One bucket per publisher, created on first use with that publisher's limits."""

    def __init__(self, default_rate: float, default_burst: int) -> None:
        self.default_rate = default_rate
        self.default_burst = default_burst
        self._buckets: dict[str, TokenBucket] = {}

    def take(
        self,
        publisher: str,
        count: int,
        now: float,
        *,
        rate: float | None = None,
        burst: int | None = None,
    ) -> float:
        """0 when `count` events may pass now, else the seconds to wait (inf: never)."""
        bucket = self._buckets.get(publisher)
        if bucket is None:
            bucket = TokenBucket(rate or self.default_rate, burst or self.default_burst)
            self._buckets[publisher] = bucket
        return bucket.take(count, now)

    def burst_of(self, publisher: str) -> int:
        bucket = self._buckets.get(publisher)
        return bucket.burst if bucket else self.default_burst
