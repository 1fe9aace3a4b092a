"""Read routes: list and filter, summary, one CAPA with its history (optionally as of a moment)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from schemas.binding import event_to_json
from schemas.capa import NonconformitySource
from services.capa.adapters.codec import state_view
from services.capa.domain.evolve import fold
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.summary import summarise
from services.capa.domain.transitions import Status
from services.capa.entrypoints.api_models import CapaMoment
from services.capa.entrypoints.deps import Caller, CapaId, Streams, visible_state
from services.capa.entrypoints.problems import READ_RESPONSES, UNAVAILABLE, not_found
from services.capa.entrypoints.routing import answer_here_or_forward

# Every route is `async`: the table and its fold cache are read on the event loop only, where
# the command agent writes them (a thread-pool route would race the agent).
router = APIRouter(prefix="/v1/capas", tags=["capas"], responses=READ_RESPONSES)


def _today() -> date:
    return local_date(datetime.now(UTC))


@router.get("")
async def list_capas(
    streams: Streams,
    caller: Caller,
    mine: Annotated[bool, Query(description="Only CAPAs I own or hold an action of.")] = False,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    status: Status | None = None,
    overdue: bool | None = None,
    source: NonconformitySource | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """List the CAPAs the caller may see, filtered; oldest nonconformity first."""
    today = _today()

    def keep(state: CapaState) -> bool:
        return (
            caller.can_see(state.agency)
            and (not mine or state.involves(caller.user_id))
            and (agency is None or state.agency == agency)
            and (status is None or state.status is status)
            and (overdue is None or state.is_overdue(today) == overdue)
            and (source is None or state.source is source)
        )

    matching = sorted(
        (s for s in streams.store.states() if keep(s)), key=lambda s: (s.opened_at, s.capa_id)
    )
    page = matching[offset : offset + limit]
    return {
        "items": [state_view(s, today) for s in page],
        "total": len(matching),
        "limit": limit,
        "offset": offset,
    }


@router.get("/summary")
async def summary(streams: Streams, caller: Caller) -> dict[str, Any]:
    """Counts of the CAPAs the caller may see: opened, closed, overdue, by status and source."""
    visible = (s for s in streams.store.states() if caller.can_see(s.agency))
    return summarise(visible, _today())


@router.get("/{capa_id}", responses={503: UNAVAILABLE})
async def get_capa(
    request: Request,
    capa_id: CapaId,
    streams: Streams,
    caller: Caller,
    as_of: Annotated[
        CapaMoment | None,
        Query(description="RFC 3339 moment with its offset: the state as it was then."),
    ] = None,
) -> dict[str, Any]:
    """One CAPA with its full event history (who, what, when, why)."""
    await answer_here_or_forward(request, streams, capa_id)
    visible_state(streams, caller, capa_id)
    events = streams.store.events(capa_id)
    if as_of is not None:
        events = [e for e in events if e.time <= as_of]
    state = fold(events)
    if state is None:
        raise not_found(f"CAPA {capa_id} did not exist at {as_of}")
    today = local_date(as_of) if as_of is not None else _today()
    return {
        "capa": state_view(state, today),
        "history": [event_to_json(e) for e in events],
        "as_of": as_of.isoformat() if as_of else None,
    }
