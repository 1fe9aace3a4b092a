"""The escalation timer's pass with fakes: one batch for the overdue CAPAs, none for the rest,
and the event loop handed back during a long walk."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from services.capa.adapters.codec import decode_command
from services.capa.domain.commands import EscalateOverdue
from services.capa.domain.decide import decide
from services.capa.domain.evolve import fold
from services.capa.domain.state import CapaState
from services.capa.service_layer.escalations import escalate_overdue
from services.capa.service_layer.policies import Outgoing
from tests.unit.capa.factories import given, open_capa

pytestmark = pytest.mark.unit

LATE = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 10 March in Vietnam: correction due 9 March


def opened(capa_id: str) -> CapaState:
    state, _ = given(open_capa(capa_id=capa_id))
    assert state is not None
    return state


def escalated(capa_id: str) -> CapaState:
    state, events = given(open_capa(capa_id=capa_id))
    command = EscalateOverdue(
        capa_id=capa_id,
        actor_id="system:timer",
        actor_role="system",
        at=LATE,
        reason="overdue",
        today=LATE.date(),
    )
    after = fold([*events, *decide(command, state)])
    assert after is not None
    return after


class Sender:
    def __init__(self) -> None:
        self.batches: list[list[Outgoing]] = []

    async def __call__(self, commands: Sequence[Outgoing]) -> None:
        self.batches.append(list(commands))


async def test_the_overdue_capas_not_escalated_yet_go_in_one_batch() -> None:
    send = Sender()
    states = [opened("CAPA-1"), escalated("CAPA-2"), opened("CAPA-3")]
    assert await escalate_overdue(states, LATE, send) == 2
    assert len(send.batches) == 1
    commands = [decode_command(c.value) for c in send.batches[0]]
    assert [c.capa_id for c in commands] == ["CAPA-1", "CAPA-3"]
    assert all(isinstance(c, EscalateOverdue) and c.today == LATE.date() for c in commands)
    assert [c.key for c in send.batches[0]] == [b"CAPA-1", b"CAPA-3"]  # the owning partition


async def test_nothing_overdue_sends_nothing() -> None:
    send = Sender()
    early = datetime(2026, 3, 5, 3, 0, tzinfo=UTC)
    assert await escalate_overdue([opened("CAPA-1")], early, send) == 0
    assert send.batches == []


async def test_a_long_walk_lets_other_tasks_run_between_slices() -> None:
    ticks: list[int] = []
    seen: list[int] = []

    walk = [opened(f"CAPA-{n}") for n in range(6)]

    def watched() -> Iterator[CapaState]:
        for state in walk:
            seen.append(len(ticks))  # how often the other task had run before this state
            yield state

    async def other() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    try:
        await escalate_overdue(watched(), LATE, Sender(), slice_=2)
    finally:
        task.cancel()
    assert seen[0] == seen[1] and seen[2] > seen[1] and seen[4] > seen[3]
