from __future__ import annotations

import math

import pytest

from services.intake.domain.rate_limit import RateLimiter, TokenBucket

pytestmark = pytest.mark.unit


def test_a_full_bucket_grants_up_to_its_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert bucket.take(5, now=100.0) == 0
    assert bucket.take(1, now=100.0) == pytest.approx(0.1)


def test_tokens_come_back_at_the_rate_and_never_above_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    bucket.take(5, now=0.0)
    assert bucket.take(3, now=0.3) == 0
    assert bucket.take(1, now=1000.0) == 0
    assert bucket.tokens == pytest.approx(4)


def test_a_refused_request_takes_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=3)
    bucket.take(2, now=0.0)
    assert bucket.take(2, now=0.0) == pytest.approx(1.0)
    assert bucket.take(1, now=0.0) == 0


def test_more_than_the_burst_can_never_pass() -> None:
    assert math.isinf(TokenBucket(rate=100, burst=10).take(11, now=0.0))


def test_each_publisher_has_its_own_bucket_with_its_own_limits() -> None:
    limiter = RateLimiter(default_rate=1, default_burst=2)
    assert limiter.take("a", 2, 0.0) == 0
    assert limiter.take("a", 1, 0.0) > 0
    assert limiter.take("b", 2, 0.0) == 0
    assert limiter.take("c", 50, 0.0, rate=100, burst=50) == 0
    assert limiter.burst_of("c") == 50
