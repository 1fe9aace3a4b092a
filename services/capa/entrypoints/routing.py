"""Answer for a CAPA here when this worker owns its partition, else relay to the owner.

With several workers in one group each CAPA lives on one of them (its partition of the
commands topic and of the table). Commands and single-CAPA reads that reach another worker
are forwarded once to the owner's API (see `adapters/forwarding.py`).
"""

from __future__ import annotations

from typing import NoReturn

from fastapi import Request, Response

from services.capa.adapters.forwarding import CommandForwarder, ForwardFailed, was_forwarded
from services.capa.entrypoints.command_path import NotOwner
from services.capa.entrypoints.problems import unavailable
from services.capa.entrypoints.worker import CapaStreams


class RelayedAnswer(Exception):
    """The owner's answer to a forwarded command, to send back as it is."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        super().__init__(status)


async def handle_relayed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayedAnswer)
    return Response(exc.body, status_code=exc.status, headers=exc.headers)


async def forward_or_refuse(request: Request, not_owner: NotOwner) -> NoReturn:
    """Relay the request to the owner of its partition, or 503 when there is none to ask."""
    forwarder = request.app.state.forwarder
    assert isinstance(forwarder, CommandForwarder)
    if not_owner.owner_url is None or was_forwarded(request.headers):
        raise unavailable(f"{not_owner}; retry")
    try:
        status, headers, body = await forwarder.forward(
            request.method,
            not_owner.owner_url,
            request.url.path,
            request.url.query,
            request.headers,
            await request.body(),
        )
    except ForwardFailed as exc:
        raise unavailable(f"{not_owner}, and it did not answer: {exc}; retry") from exc
    raise RelayedAnswer(status, headers, body)


async def answer_here_or_forward(request: Request, streams: CapaStreams, capa_id: str) -> None:
    """Return when this worker owns the CAPA's partition; otherwise answer from the owner."""
    try:
        await streams.commands.local_partition(capa_id.encode())
    except NotOwner as not_owner:
        await forward_or_refuse(request, not_owner)
