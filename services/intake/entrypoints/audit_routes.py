"""GET /v1/audit/trail/{subject}: an aggregate's events with the proof the ledger chained them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.intake.entrypoints.models import PROBLEM_RESPONSES
from services.intake.entrypoints.trail_reads import TrailReader, get_trail_reader, trail_lifespan

__all__ = ["router", "trail_lifespan"]

router = APIRouter(tags=["audit trail"])

SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$"  # as schemas.envelope.CloudEvent.subject


TrailSourceDep = Annotated[TrailReader, Depends(get_trail_reader)]


class TrailEvent(BaseModel):
    seq: int = Field(description="Position of the event's entry in its chain.")
    offset: int = Field(description="Kafka offset of the event record.")
    event: dict[str, Any] | None = Field(
        default=None, description="The event as stored (CloudEvents structured JSON)."
    )
    value_b64: str | None = Field(
        default=None, description="The stored bytes, for a value that is not I-JSON."
    )
    missing: bool | None = Field(default=None, description="The record could not be read.")


class TrailChain(BaseModel):
    chain: str = Field(examples=["qms.dossier.v1/1"])
    topic: str
    partition: int
    events: list[TrailEvent]
    entries: list[dict[str, Any]] = Field(
        description="Ledger entries from the subject's first entry to the checkpoint's size - 1."
    )
    checkpoint: str | None = Field(
        description="The covering signed checkpoint (C2SP tlog-checkpoint note), if any yet."
    )


class Trail(BaseModel):
    version: int
    subject: str
    chains: list[TrailChain]


@router.get(
    "/v1/audit/trail/{subject:path}",
    response_model=None,
    responses={
        200: {"model": Trail, "description": "The trail; check it with `qms audit verify`."},
        404: {**PROBLEM_RESPONSES[503], "description": "No chained event has this subject."},
        422: {**PROBLEM_RESPONSES[422], "description": "The subject is not a valid aggregate id."},
        429: {
            **PROBLEM_RESPONSES[429],
            "description": "Over the caller's read rate or the global read cap; see Retry-After.",
        },
        503: {
            **PROBLEM_RESPONSES[503],
            "description": "The subject index is behind the ledger, or the ledger cannot be read.",
        },
    },
)
async def audit_trail(
    subject: Annotated[str, PathParam(pattern=SUBJECT_PATTERN, max_length=64)],
    source: TrailSourceDep,
) -> Response:
    """An aggregate's events, their ledger entries, the chain segment and the signed checkpoint."""
    async with source.slot():  # 429 past the caller's rate or the global cap on reads
        trail = await source.trail(subject)  # from the subject index; 503 while it lags
    if not trail.chains:
        raise HTTPException(404, f"no chained event has subject {subject!r}")
    # Sent as built (JSON rendered in a reader process): re-serialising through a model could
    # drop a null inside an event, and the event must stay canonicalisable to its leaf.
    return Response(trail.body, media_type="application/json")
