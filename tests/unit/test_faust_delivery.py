"""The prompt hand-over: a message's callback runs in place when it can, and otherwise (or while
the flow is suspended) faust's own `wait_first` decides, so a suspended flow still abandons it."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.faust_delivery import PromptDeliveryApp, PromptDeliveryConsumer, finish

pytestmark = pytest.mark.unit


@pytest.fixture
async def consumer() -> AsyncIterator[PromptDeliveryConsumer]:
    # Declared only: nothing connects until the app starts, which the tests never do.
    app = PromptDeliveryApp("prompt-delivery-test", broker="kafka://127.0.0.1:1")
    made = app.consumer
    assert isinstance(made, PromptDeliveryConsumer)
    yield made


class Steps:
    """A callback that records what ran, optionally waiting on a future first."""

    def __init__(self, gate: asyncio.Future[str] | None = None) -> None:
        self.gate = gate
        self.ran: list[str] = []

    async def __call__(self, value: str) -> str:
        self.ran.append("start")
        try:
            if self.gate is not None:
                value += await self.gate
        except asyncio.CancelledError:
            self.ran.append("cancelled")
            raise
        self.ran.append("end")
        return value


async def test_a_callback_that_never_suspends_runs_in_place(
    consumer: PromptDeliveryConsumer,
) -> None:
    steps = Steps()
    callback = steps("m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unused flow wait is closed, never left dangling
        results = await consumer.wait_first(callback, consumer.suspend_flow.wait())
    assert (results.done, results.results, results.stopped) == ([callback], ["m"], False)
    assert steps.ran == ["start", "end"]


async def test_a_callback_that_suspends_finishes_through_faust(
    consumer: PromptDeliveryConsumer,
) -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps = Steps(gate)
    waiting = asyncio.ensure_future(consumer.wait_first(steps("m"), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert steps.ran == ["start"] and not waiting.done()
    gate.set_result("+rest")
    results = await waiting
    assert results.results == ["m+rest"] and not results.stopped
    assert steps.ran == ["start", "end"]


async def test_a_suspended_flow_abandons_a_blocked_callback(
    consumer: PromptDeliveryConsumer,
) -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps = Steps(gate)
    flow_wait = consumer.suspend_flow.wait()
    waiting = asyncio.ensure_future(consumer.wait_first(steps("m"), flow_wait))
    await asyncio.sleep(0.01)
    consumer.stop_flow()  # a rebalance begins
    results = await waiting
    assert results.done == [flow_wait]
    await asyncio.sleep(0)  # faust cancels the losers on its way out
    assert steps.ran == ["start", "cancelled"]
    consumer.resume_flow()


async def test_while_the_flow_is_suspended_nothing_runs_in_place(
    consumer: PromptDeliveryConsumer,
) -> None:
    consumer.stop_flow()
    steps = Steps()
    flow_wait = consumer.suspend_flow.wait()
    results = await consumer.wait_first(steps("m"), flow_wait)
    assert flow_wait in results.done  # faust's path: both are done, the flow wait among them
    consumer.resume_flow()


async def test_a_callback_that_fails_in_place_raises(consumer: PromptDeliveryConsumer) -> None:
    async def broken(_: Any) -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(broken(None), consumer.suspend_flow.wait())


async def test_finish_carries_values_and_exceptions_into_the_started_coroutine() -> None:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[int] = loop.create_future()
    second: asyncio.Future[int] = loop.create_future()

    async def two_awaits() -> int:
        total = await first
        try:
            total += await second
        except KeyError:
            total += 100
        return total

    coro = two_awaits()
    suspended_on = coro.send(None)  # runs up to `await first`
    assert suspended_on is first
    task = asyncio.ensure_future(finish(coro, suspended_on))
    first.set_result(1)
    await asyncio.sleep(0)
    second.set_exception(KeyError("x"))
    assert await task == 101
