"""Request dependencies: the caller (bearer token) and the running streams."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.capa.adapters.auth import Principal, UserDirectory
from services.capa.domain.state import CapaState
from services.capa.entrypoints.problems import not_found
from services.capa.entrypoints.worker import CapaStreams
from services.common.problems import MISSING_TOKEN, unauthenticated

REALM = "qms-capa"
_bearer = HTTPBearer(auto_error=False)


# Both `async`: a plain `def` dependency costs a thread-pool hop on every request.
async def get_streams(request: Request) -> CapaStreams:
    streams = request.app.state.streams
    assert isinstance(streams, CapaStreams)
    return streams


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    users = request.app.state.users
    assert isinstance(users, UserDirectory)
    principal = users.authenticate(credentials.credentials) if credentials else None
    if principal is None:
        raise unauthenticated(REALM, MISSING_TOKEN)
    return principal


Streams = Annotated[CapaStreams, Depends(get_streams)]
CapaId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
ActionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Caller = Annotated[Principal, Depends(get_principal)]


def visible_state(streams: CapaStreams, caller: Principal, capa_id: str) -> CapaState:
    """The CAPA, or 404 when it does not exist or belongs to an agency the caller cannot see."""
    state = streams.store.state(capa_id)
    if state is None or not caller.can_see(state.agency):
        # Another agency's record is indistinguishable from a missing one.
        raise not_found(f"no CAPA {capa_id}")
    return state
