"""Trail reads are limited apart from publishing: a bucket per caller, a cap on reads in
flight, and past either an immediate 429 with Retry-After (never a queue)."""

from __future__ import annotations

import pytest

from services.intake.entrypoints.problems import ProblemError
from services.intake.entrypoints.trail_reads import ReadLimiter

pytestmark = pytest.mark.unit


async def test_past_the_cap_on_reads_in_flight_a_read_is_refused_at_once() -> None:
    limiter = ReadLimiter(rate=100, burst=100, max_in_flight=2)
    async with limiter.slot("token:a"), limiter.slot("token:b"):
        with pytest.raises(ProblemError) as refused:
            async with limiter.slot("token:c"):
                pytest.fail("a third read ran while two were in flight")
        assert refused.value.status == 429
        assert refused.value.headers["Retry-After"] == "1"
        assert "being served" in refused.value.body["detail"]
    async with limiter.slot("token:c"):  # the slots came back
        assert limiter.in_flight == 1
    assert limiter.in_flight == 0


async def test_a_caller_past_its_burst_waits_while_another_reads() -> None:
    limiter = ReadLimiter(rate=0.5, burst=2, max_in_flight=10)
    for _ in range(2):
        async with limiter.slot("token:a"):
            pass
    with pytest.raises(ProblemError) as refused:
        async with limiter.slot("token:a"):
            pass
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) == 2  # one token at 0.5/s
    async with limiter.slot("token:b"):
        pass


async def test_a_failed_read_gives_its_slot_back() -> None:
    limiter = ReadLimiter(rate=100, burst=100, max_in_flight=1)
    with pytest.raises(RuntimeError):
        async with limiter.slot("token:a"):
            raise RuntimeError("the index could not be read")
    assert limiter.in_flight == 0
