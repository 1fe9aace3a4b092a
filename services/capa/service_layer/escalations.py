"""The escalation timer's pass without faust: one batch of escalations for the CAPAs overdue.

Every CAPA with a passed due date not escalated yet gets an `EscalateOverdue`; they are sent
together and acknowledged together (a redelivered or repeated escalation is ignored by
`decide`: each due date is escalated once). The pass walks every CAPA of the worker's
partitions, so it hands the event loop back to the agents every `slice_` states: a walk
over a national backlog must not hold up the policy and command agents (~40 ms per 1,000
CAPAs measured on a development machine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

from services.capa.domain.commands import EscalateOverdue
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.transitions import Role
from services.capa.service_layer.policies import CommandBatchSender, encoded

SCAN_SLICE = 200  # CAPAs judged between two returns to the event loop


def escalation(state: CapaState, now: datetime) -> EscalateOverdue | None:
    """The escalation `state` calls for at `now`, if any."""
    today = local_date(now)
    if not state.due_dates_to_escalate(today):
        return None
    return EscalateOverdue(
        capa_id=state.capa_id,
        actor_id="system:timer",
        actor_role=Role.SYSTEM,
        at=now,
        reason=f"overdue since {state.overdue_since(today)}",
        today=today,
    )


async def escalate_overdue(
    states: Iterable[CapaState],
    now: datetime,
    send_all: CommandBatchSender,
    slice_: int = SCAN_SLICE,
) -> int:
    """Send one escalation per overdue CAPA of `states`, all acknowledged; how many."""
    commands: list[EscalateOverdue] = []
    for n, state in enumerate(states, start=1):
        command = escalation(state, now)
        if command is not None:
            commands.append(command)
        if n % slice_ == 0:
            await asyncio.sleep(0)
    if commands:
        await send_all(encoded(commands))
    return len(commands)
