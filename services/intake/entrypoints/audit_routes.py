"""GET /v1/audit/trail/{subject}: an aggregate's events with the proof the ledger chained them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.settings import CommonSettings
from services.intake.entrypoints.models import PROBLEM_RESPONSES
from services.intake.ledger.adapters.keys import Ed25519Verifier, LedgerKeyError, load_verifier
from services.intake.ledger.service import trail_document
from services.intake.ledger.settings import LedgerSettings

log = logging.getLogger(__name__)

router = APIRouter(tags=["audit trail"])

SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$"  # as schemas.envelope.CloudEvent.subject


@dataclass
class TrailSource:
    """Where trails are read from: the ledger settings and, if known, the checkpoint key."""

    settings: LedgerSettings
    verifier: Ed25519Verifier | None

    async def trail(self, subject: str) -> dict[str, Any]:
        return await trail_document(self.settings, subject, self.verifier)


def trail_source_for(state: Any) -> TrailSource:
    """Ledger settings from `app.state.ledger_settings`, else the intake app's Kafka settings."""
    settings = getattr(state, "ledger_settings", None)
    if not isinstance(settings, LedgerSettings):
        base = getattr(getattr(state, "intake", None), "settings", None)
        settings = LedgerSettings()
        if isinstance(base, CommonSettings):
            settings = settings.model_copy(
                update={
                    "kafka_bootstrap_servers": base.kafka_bootstrap_servers,
                    "topic_prefix": base.topic_prefix,
                }
            )
    try:
        verifier: Ed25519Verifier | None = load_verifier(settings)
    except LedgerKeyError as exc:
        # Without a key every checkpoint is offered; the offline verifier still checks them.
        log.warning("audit trail served without a checkpoint key: %s", exc)
        verifier = None
    return TrailSource(settings, verifier)


def get_trail_source(request: Request) -> TrailSource:
    source = getattr(request.app.state, "audit_trail", None)
    if not isinstance(source, TrailSource):
        source = trail_source_for(request.app.state)
        request.app.state.audit_trail = source
    return source


TrailSourceDep = Annotated[TrailSource, Depends(get_trail_source)]


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
        503: {**PROBLEM_RESPONSES[503], "description": "The ledger topics cannot be read."},
    },
)
async def audit_trail(
    subject: Annotated[str, PathParam(pattern=SUBJECT_PATTERN, max_length=64)],
    source: TrailSourceDep,
) -> JSONResponse:
    """An aggregate's events, their ledger entries, the chain segment and the signed checkpoint."""
    try:
        document = await source.trail(subject)
    except (KafkaError, LookupError, OSError) as exc:
        raise HTTPException(503, f"the ledger cannot be read: {exc}") from exc
    if not document["chains"]:
        raise HTTPException(404, f"no chained event has subject {subject!r}")
    # Returned as built: re-serialising through a model could drop a null inside an event,
    # and the event must stay byte-for-byte canonicalisable to its leaf.
    return JSONResponse(document)
