"""Read routes: list and filter, summary, one CAPA with its history (optionally as of a moment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from schemas.binding import event_to_json
from schemas.capa import NonconformitySource
from schemas.envelope import CloudEvent
from services.capa.adapters.auth import Principal
from services.capa.adapters.codec import state_view
from services.capa.domain.evolve import fold, sequence_of
from services.capa.domain.signature_audit import signature_of
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.summary import merge_summaries, summarise
from services.capa.domain.transitions import Status
from services.capa.entrypoints.api_models import CapaMoment
from services.capa.entrypoints.deps import Caller, CapaId, Streams, visible_state
from services.capa.entrypoints.fan_out import INTERNAL_PREFIX, Part, gather_parts, merge_pages
from services.capa.entrypoints.problems import READ_RESPONSES, UNAVAILABLE, not_found
from services.capa.entrypoints.routing import answer_here_or_forward

# Every route is `async`: the table and its fold cache are read on the event loop only, where
# the command agent writes them (a thread-pool route would race the agent).
router = APIRouter(prefix="/v1/capas", tags=["capas"], responses=READ_RESPONSES)
# This worker's part of a list or summary, asked by another worker (see fan_out.py).
internal_router = APIRouter(prefix=INTERNAL_PREFIX, include_in_schema=False)


@dataclass(frozen=True)
class ListQuery:
    """The filters and the page of a list request."""

    mine: bool
    agency: str | None
    status: Status | None
    overdue: bool | None
    source: NonconformitySource | None
    limit: int
    offset: int

    def keeps(self, caller: Principal, state: CapaState, today: date) -> bool:
        return (
            caller.can_see(state.agency)
            and (not self.mine or state.involves(caller.user_id))
            and (self.agency is None or state.agency == self.agency)
            and (self.status is None or state.status is self.status)
            and (self.overdue is None or state.is_overdue(today) == self.overdue)
            and (self.source is None or state.source is self.source)
        )


async def list_query(
    mine: Annotated[bool, Query(description="Only CAPAs I own or hold an action of.")] = False,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    status: Status | None = None,
    overdue: bool | None = None,
    source: NonconformitySource | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ListQuery:
    return ListQuery(mine, agency, status, overdue, source, limit, offset)


Listing = Annotated[ListQuery, Depends(list_query)]


def _local_page(streams: Streams, caller: Caller, query: ListQuery) -> Part:
    """The matching CAPAs of this worker's partitions: its first offset+limit, and how many."""
    today = streams.today()
    matching = sorted(
        (s for s in streams.store.states() if query.keeps(caller, s, today)),
        key=lambda s: (s.opened_at, s.capa_id),
    )
    return {
        "partitions": sorted(streams.commands.owned_partitions()),
        "items": [
            state_view(s, today, hashed=False) for s in matching[: query.offset + query.limit]
        ],
        "total": len(matching),
    }


def _local_summary(streams: Streams, caller: Caller) -> Part:
    visible = (s for s in streams.store.states() if caller.can_see(s.agency))
    return {
        "partitions": sorted(streams.commands.owned_partitions()),
        **summarise(visible, streams.today()),
    }


@router.get("", responses={503: UNAVAILABLE})
async def list_capas(
    request: Request, streams: Streams, caller: Caller, query: Listing
) -> dict[str, Any]:
    """List the CAPAs the caller may see, filtered, from every worker; oldest nonconformity
    first."""
    parts = await gather_parts(request, streams, lambda: _local_page(streams, caller, query))
    page, total = merge_pages(parts, query.offset, query.limit)
    return {"items": page, "total": total, "limit": query.limit, "offset": query.offset}


@router.get("/summary", responses={503: UNAVAILABLE})
async def summary(request: Request, streams: Streams, caller: Caller) -> dict[str, Any]:
    """Counts of the CAPAs the caller may see, from every worker: opened, closed, overdue, by
    status and source."""
    return merge_summaries(
        await gather_parts(request, streams, lambda: _local_summary(streams, caller))
    )


@internal_router.get("")
async def local_capas(streams: Streams, caller: Caller, query: Listing) -> Part:
    """This worker's part of a list: the partitions it covers, its first items, its total."""
    return _local_page(streams, caller, query)


@internal_router.get("/summary")
async def local_summary(streams: Streams, caller: Caller) -> Part:
    """This worker's part of a summary, with the partitions it covers."""
    return _local_summary(streams, caller)


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
    """One CAPA with its full event history (who, what, when, why) and its signatures."""
    await answer_here_or_forward(request, streams, capa_id)
    visible_state(streams, caller, capa_id)
    events = streams.store.events(capa_id)
    if as_of is not None:
        events = [e for e in events if e.time <= as_of]
    state = fold(events)
    if state is None:
        raise not_found(f"CAPA {capa_id} did not exist at {as_of}")
    today = local_date(as_of) if as_of is not None else streams.today()
    return {
        "capa": state_view(state, today),
        "history": [event_to_json(e) for e in events],
        "signatures": [_signature_entry(e) for e in events if signature_of(e) is not None],
        "as_of": as_of.isoformat() if as_of else None,
    }


def _signature_entry(event: CloudEvent) -> dict[str, Any]:
    """Who signed which decision event, meaning what, when, over which state."""
    signature = signature_of(event)
    return {
        "sequence": sequence_of(event),
        "event_type": event.type,
        **signature.model_dump(mode="json"),
    }
