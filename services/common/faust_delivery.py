"""faust's hand-over of each fetched message to the agents, without four tasks per message.

faust-streaming 0.15.3's consumer passes every fetched message to the conductor through
`Service.wait_first(callback(message), suspend_flow.wait())`, so that a rebalance that
suspends the flow abandons a hand-over blocked on a full stream buffer. That costs four
tasks (the callback, the flow wait, the consumer's stopped and crashed waits) and an
`asyncio.wait` per message: the largest share of an agent's time per record once the agent
itself works in batches (docs/audit-trail.md, Benchmark).

Nearly always the callback finishes without suspending (the buffer has room, the flow
runs). `PromptDeliveryApp`'s consumer therefore runs it at once, in place, up to its first
suspension; one that does suspend continues through faust's own `wait_first`, exactly as
before, so a suspended flow still abandons it. While the flow is suspended, or the consumer
is stopping, every call takes faust's path unchanged.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults


@types.coroutine
def resumed(coro: Coroutine[Any, Any, Any], suspended_on: Any) -> Generator[Any, Any, Any]:
    """Await the rest of `coro`, which already ran up to yielding `suspended_on`.

    What `await coro` does from that point on: each value it yields goes to the task, each
    value or exception the task sends back goes into `coro`, until it returns."""
    to_yield = suspended_on
    while True:
        try:
            sent = yield to_yield
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation included: it goes to `coro`, as with await
            try:
                to_yield = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                to_yield = coro.send(sent)
            except StopIteration as done:
                return done.value


async def finish(coro: Coroutine[Any, Any, Any], suspended_on: Any) -> Any:
    """`resumed` as a coroutine object (faust's `wait_first` takes awaitables only)."""
    return await resumed(coro, suspended_on)


class PromptDeliveryConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer, running a message's hand-over in place when it can."""

    # The signature of the method it overrides, `timeout` included.
    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109
        first = coros[0] if coros else None
        if (
            not asyncio.iscoroutine(first)
            or timeout is not None
            or self.suspend_flow.is_set()
            or self._stopped.is_set()
            or self._crashed.is_set()
        ):
            return await super().wait_first(*coros, timeout=timeout)
        try:
            suspended_on = first.send(None)
        except StopIteration as done:
            _close(coros[1:])
            return WaitResults([first], [done.value], False)
        except BaseException:
            _close(coros[1:])
            raise
        return await super().wait_first(finish(first, suspended_on), *coros[1:])


def _close(awaitables: tuple[Any, ...]) -> None:
    # The flow wait that was never started: closed, so it is not reported as never awaited.
    for awaitable in awaitables:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()


class PromptDeliveryTransport(faust_aiokafka.Transport):
    Consumer = PromptDeliveryConsumer


class PromptDeliveryApp(faust.App):
    """A faust app whose consumer hands messages to its agents without a task each."""

    def _new_transport(self) -> Any:
        return PromptDeliveryTransport(self.conf.broker_consumer, self)
