"""GET /v1/audit/trail/{subject}: an aggregate's events with the proof the ledger chained them.

Read like a write is scoped: the caller is a publisher (its token's agencies) or a platform
user (services.common.users; `*` is a national reader). A trail holding an event of an
agency outside the caller's scope is answered 404, exactly like a subject that has no trail.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.common.credentials import AgencyScope
from services.common.problems import MISSING_TOKEN, ProblemError, unauthenticated
from services.common.settings import CommonSettings
from services.common.users import UserDirectory, load_user_directory
from services.intake.entrypoints.auth import REALM
from services.intake.entrypoints.models import PROBLEM_RESPONSES
from services.intake.entrypoints.trail_reads import (
    TrailReader,
    app_trail_source,
    get_trail_reader,
    trail_lifespan,
)
from services.intake.ledger.domain.witness import parse_witness
from services.intake.ledger.trail_pool import RenderedTrail

log = logging.getLogger(__name__)

__all__ = ["router", "trail_lifespan"]

router = APIRouter(tags=["audit trail"])

SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$"  # as schemas.envelope.CloudEvent.subject


TrailSourceDep = Annotated[TrailReader, Depends(get_trail_reader)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A publisher token (its agencies) or a platform user's token (QMS_USERS_FILE).",
)


def _platform_users(state: Any, settings: CommonSettings) -> UserDirectory:
    """The users file of these settings, read once per app; unreadable means no users."""
    users = getattr(state, "trail_users", None)
    if not isinstance(users, UserDirectory):
        try:
            users = load_user_directory(settings.users_file, settings.environment)
        except ValueError as exc:
            # Publishers still read their own trails; no platform user can until it is fixed.
            log.error("audit trail: no platform users: %s", exc)
            users = UserDirectory([])
        state.trail_users = users
    return users


async def trail_reader_scope(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AgencyScope:
    """The agencies the caller may read trails of, or 401."""
    state = request.app.state
    runtime = getattr(state, "intake", None)
    settings = getattr(runtime, "settings", None) or app_trail_source(request.app).settings
    if credentials is None or not credentials.credentials:
        raise unauthenticated(REALM, MISSING_TOKEN)
    token = credentials.credentials
    user = _platform_users(state, settings).authenticate(token)
    if user is not None:
        return user.scope
    if runtime is not None:
        publisher = runtime.registry.authenticate(token)
        for authenticator in runtime.authenticators:
            if publisher is not None:
                break
            publisher = await authenticator.authenticate(token)
        if publisher is not None:
            return AgencyScope(tuple(publisher.agencies))
    raise unauthenticated(
        REALM, "the bearer token is neither a publisher's nor a platform user's", invalid_token=True
    )


TrailReaderScope = Annotated[AgencyScope, Depends(trail_reader_scope)]


def visible_to(scope: AgencyScope, trail: RenderedTrail) -> bool:
    """Whether every event of the trail belongs to an agency of the scope.

    An event whose agency cannot be read (stored bytes that are not JSON, a missing
    record) is shown to national readers only.
    """
    if scope.national:
        return True
    return not trail.unattributed and all(scope.covers(a) for a in trail.agencies)


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
    inclusion: list[str] | None = Field(
        default=None,
        description="RFC 9162 inclusion proof (base64 hashes) of the entry in the checkpoint.",
    )


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
    last_inclusion: list[str] | None = Field(
        default=None,
        description="RFC 9162 inclusion proof (base64 hashes) of the segment's last entry, "
        "the checkpoint's last leaf; each event carries its own as `inclusion`.",
    )
    consistency: dict[str, Any] | None = Field(
        default=None,
        description="With ?witness: `{size, proof}`, the consistency proof between the "
        "witnessed tree head and the checkpoint's.",
    )


def _witnessed(values: list[str]) -> dict[str, int]:
    try:
        return dict(parse_witness(value) for value in values)
    except ValueError as exc:
        raise ProblemError(
            422,
            "invalid-query",
            "the query does not name witnessed tree heads",
            [{"field": "witness", "reason": str(exc)}],
            reason="invalid",
        ) from exc


class Trail(BaseModel):
    version: int
    subject: str
    chains: list[TrailChain]


@router.get(
    "/v1/audit/trail/{subject:path}",
    response_model=None,
    responses={
        200: {"model": Trail, "description": "The trail; check it with `qms audit verify`."},
        401: PROBLEM_RESPONSES[401],
        404: {
            **PROBLEM_RESPONSES[503],
            "description": "No chained event has this subject that the caller may read.",
        },
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
    scope: TrailReaderScope,
    witness: Annotated[
        list[str],
        Query(
            max_length=16,
            description="A witnessed tree head `<topic>/<partition>@<size>` (repeatable): each "
            "segment of that chain then carries the consistency proof with it.",
        ),
    ] = [],  # noqa: B006 (FastAPI copies a list default per request)
) -> Response:
    """An aggregate's events with inclusion proofs, the chain segment and the signed checkpoint."""
    witnessed = _witnessed(witness)
    async with source.slot():  # 429 past the caller's rate or the global cap on reads
        trail = await source.trail(subject, witnessed)  # from the subject index; 503 while it lags
    # Another agency's trail is indistinguishable from a missing one.
    if not trail.chains or not visible_to(scope, trail):
        raise ProblemError(404, "trail-not-found", f"no chained event has subject {subject!r}")
    # Sent as built (JSON rendered in a reader process): re-serialising through a model could
    # drop a null inside an event, and the event must stay canonicalisable to its leaf.
    return Response(trail.body, media_type="application/json")


CHAIN_PATTERN = r"^[A-Za-z0-9._-]{1,200}/[0-9]{1,6}$"


@router.get(
    "/v1/audit/consistency/{chain:path}",
    response_model=None,
    responses={
        200: {"description": "`{chain, first, second, proof}`; check with `qms audit verify`."},
        401: PROBLEM_RESPONSES[401],
        404: {**PROBLEM_RESPONSES[503], "description": "The chain has fewer entries."},
        422: {**PROBLEM_RESPONSES[422], "description": "Not a chain, or sizes out of order."},
        429: PROBLEM_RESPONSES[429],
        503: PROBLEM_RESPONSES[503],
    },
)
async def audit_consistency(
    chain: Annotated[str, PathParam(pattern=CHAIN_PATTERN, examples=["qms.dossier.v1/0"])],
    first: Annotated[int, Query(ge=1, description="The smaller tree size (a checkpoint's).")],
    second: Annotated[int, Query(ge=1, description="The larger tree size (a checkpoint's).")],
    source: TrailSourceDep,
    scope: TrailReaderScope,  # any valid credential: a proof holds hashes, no agency data
) -> Response:
    """The RFC 9162 consistency proof between two tree sizes of a chain, with their checkpoints."""
    if second <= first:
        raise ProblemError(
            422,
            "invalid-query",
            "the tree sizes are out of order",
            [{"field": "second", "reason": f"must be larger than first ({first})"}],
            reason="invalid",
        )
    async with source.slot():
        body = await source.consistency(chain, first, second)
    if body is None:
        raise ProblemError(
            404, "chain-too-short", f"chain {chain!r} has fewer than {second} indexed entries"
        )
    return Response(body, media_type="application/json")
