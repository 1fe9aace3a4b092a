"""Command routes: one POST per CAPA command; each answers with the new events and state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from schemas.binding import event_to_json
from schemas.capa import PlannedAction
from services.capa.adapters.codec import state_view
from services.capa.domain.commands import (
    CancelCapa,
    CloseCapa,
    Command,
    CompleteAction,
    PlanActions,
    RecordCorrection,
    RecordRootCause,
    VerifyEffectiveness,
)
from services.capa.entrypoints.api_models import (
    ActionCompletionBody,
    ActionPlanBody,
    CancellationBody,
    ClosureBody,
    CommandBody,
    CommandResult,
    CorrectionBody,
    RootCauseBody,
    VerificationBody,
)
from services.capa.entrypoints.command_metrics import CommandObservation
from services.capa.entrypoints.command_path import NoDecision, NotOwner
from services.capa.entrypoints.deps import ActionId, Caller, CapaId, Streams, visible_state
from services.capa.entrypoints.problems import COMMAND_RESPONSES, refusal_problem, unavailable
from services.capa.entrypoints.routing import answer_here_or_forward, forward_or_refuse
from services.capa.service_layer.replies import CommandRefused

router = APIRouter(
    prefix="/v1/capas/{capa_id}", tags=["capa commands"], responses=COMMAND_RESPONSES
)


async def _run(
    request: Request,
    streams: Streams,
    caller: Caller,
    capa_id: str,
    body: CommandBody,
    build: Callable[[dict[str, Any]], Command],
) -> CommandResult:
    await answer_here_or_forward(request, streams, capa_id)
    visible_state(streams, caller, capa_id)
    common: dict[str, Any] = {
        "capa_id": capa_id,
        "actor_id": caller.user_id,
        "actor_role": caller.role.value,
        "at": streams.settings.clock.now(),
        "reason": body.reason,
        "expected_version": body.expected_version,
    }
    command = build(common)
    with CommandObservation(type(command).__name__) as observed:
        try:
            reply = await streams.execute(command)
        except NotOwner as not_owner:  # the partition moved since the check above
            observed.forwarded()
            await forward_or_refuse(request, not_owner)
        except NoDecision as exc:
            raise unavailable(
                f"the command was sent, but its decision did not come back ({exc}); retry "
                "with the same expected_version: if it was applied, the retry is refused as stale"
            ) from exc
        if isinstance(reply, CommandRefused):
            observed.refused(reply.kind)
            raise refusal_problem(reply)
        observed.accepted()
    return CommandResult(
        capa_id=reply.capa_id,
        version=reply.version,
        events=[event_to_json(e) for e in reply.events],
        capa=state_view(reply.state, streams.today()),
    )


@router.post("/correction")
async def record_correction(
    request: Request, capa_id: CapaId, body: CorrectionBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Record the immediate correction (reaction to the nonconformity)."""
    return await _run(
        request,
        streams,
        caller,
        capa_id,
        body,
        lambda c: RecordCorrection(**c, correction=body.correction),
    )


@router.post("/root-cause")
async def record_root_cause(
    request: Request, capa_id: CapaId, body: RootCauseBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Record the root cause: method, category and text."""
    return await _run(
        request,
        streams,
        caller,
        capa_id,
        body,
        lambda c: RecordRootCause(**c, method=body.method, category=body.category, text=body.text),
    )


@router.post("/action-plan")
async def plan_actions(
    request: Request, capa_id: CapaId, body: ActionPlanBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Plan the corrective actions (a new plan after an ineffective verification)."""
    actions = tuple(
        PlannedAction(
            action_id=a.action_id or f"A{n}",
            description=a.description,
            owner_id=a.owner_id,
            due_on=a.due_on,
        )
        for n, a in enumerate(body.actions, start=1)
    )
    return await _run(
        request, streams, caller, capa_id, body, lambda c: PlanActions(**c, actions=actions)
    )


@router.post("/actions/{action_id}/completion")
async def complete_action(
    request: Request,
    capa_id: CapaId,
    action_id: ActionId,
    body: ActionCompletionBody,
    streams: Streams,
    caller: Caller,
) -> CommandResult:
    """Report one planned action done, with evidence references."""
    return await _run(
        request,
        streams,
        caller,
        capa_id,
        body,
        lambda c: CompleteAction(
            **c, action_id=action_id, completed_on=body.completed_on, evidence=tuple(body.evidence)
        ),
    )


@router.post("/verification")
async def verify_effectiveness(
    request: Request, capa_id: CapaId, body: VerificationBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Verify effectiveness (not by an implementer, signed); ineffective reopens the CAPA."""
    return await _run(
        request,
        streams,
        caller,
        capa_id,
        body,
        lambda c: VerifyEffectiveness(
            **c,
            result=body.result,
            verified_on=body.verified_on,
            evidence=tuple(body.evidence),
            signature=body.signature.contract(),
        ),
    )


@router.post("/closure")
async def close_capa(
    request: Request, capa_id: CapaId, body: ClosureBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Close a CAPA verified effective (signed: approved closure)."""
    return await _run(
        request,
        streams,
        caller,
        capa_id,
        body,
        lambda c: CloseCapa(**c, signature=body.signature.contract()),
    )


@router.post("/cancellation")
async def cancel_capa(
    request: Request, capa_id: CapaId, body: CancellationBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Cancel a CAPA (ISO secretary only, with a justification, signed)."""
    return await _run(
        request,
        streams,
        caller,
        capa_id,
        body,
        lambda c: CancelCapa(
            **c, justification=body.justification, signature=body.signature.contract()
        ),
    )
