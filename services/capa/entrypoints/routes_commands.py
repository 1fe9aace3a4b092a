"""Command routes: one POST per CAPA command; each answers with the new events and state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from schemas.capa import PlannedAction
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
from services.capa.entrypoints.deps import Caller, Streams, visible_state
from services.capa.entrypoints.problems import ProblemError, refusal_problem

router = APIRouter(prefix="/v1/capas/{capa_id}", tags=["capa commands"])


async def _run(
    streams: Streams,
    caller: Caller,
    capa_id: str,
    body: CommandBody,
    build: Callable[[dict[str, Any]], Command],
) -> CommandResult:
    visible_state(streams, caller, capa_id)
    common: dict[str, Any] = {
        "capa_id": capa_id,
        "actor_id": caller.user_id,
        "actor_role": caller.role.value,
        "at": datetime.now(UTC),
        "reason": body.reason,
        "expected_version": body.expected_version,
    }
    try:
        reply = await streams.execute(build(common))
    except TimeoutError as exc:
        raise ProblemError(
            "unavailable", 503, "the worker owning this CAPA did not answer; retry"
        ) from exc
    if not reply.get("ok"):
        raise refusal_problem(reply)
    return CommandResult.model_validate(
        {k: reply[k] for k in ("capa_id", "version", "events", "capa")}
    )


@router.post("/correction")
async def record_correction(
    capa_id: str, body: CorrectionBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Record the immediate correction (reaction to the nonconformity)."""
    return await _run(
        streams, caller, capa_id, body, lambda c: RecordCorrection(**c, correction=body.correction)
    )


@router.post("/root-cause")
async def record_root_cause(
    capa_id: str, body: RootCauseBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Record the root cause: method, category and text."""
    return await _run(
        streams,
        caller,
        capa_id,
        body,
        lambda c: RecordRootCause(**c, method=body.method, category=body.category, text=body.text),
    )


@router.post("/action-plan")
async def plan_actions(
    capa_id: str, body: ActionPlanBody, streams: Streams, caller: Caller
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
    return await _run(streams, caller, capa_id, body, lambda c: PlanActions(**c, actions=actions))


@router.post("/actions/{action_id}/completion")
async def complete_action(
    capa_id: str, action_id: str, body: ActionCompletionBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Report one planned action done, with evidence references."""
    return await _run(
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
    capa_id: str, body: VerificationBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Verify effectiveness (not by an implementer); ineffective reopens the CAPA."""
    return await _run(
        streams,
        caller,
        capa_id,
        body,
        lambda c: VerifyEffectiveness(
            **c, result=body.result, verified_on=body.verified_on, evidence=tuple(body.evidence)
        ),
    )


@router.post("/closure")
async def close_capa(
    capa_id: str, body: ClosureBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Close a CAPA verified effective."""
    return await _run(streams, caller, capa_id, body, lambda c: CloseCapa(**c))


@router.post("/cancellation")
async def cancel_capa(
    capa_id: str, body: CancellationBody, streams: Streams, caller: Caller
) -> CommandResult:
    """Cancel a CAPA (ISO secretary only, with a justification)."""
    return await _run(
        streams, caller, capa_id, body, lambda c: CancelCapa(**c, justification=body.justification)
    )
