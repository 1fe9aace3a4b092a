"""List and summary for every partition: this worker's part, and the other workers' parts.

Each worker holds the CAPAs of the partitions it owns. A list or summary request asks every
other worker of the group (their URLs from faust's assignor, as for forwarded commands) for
its part over `/internal/v1/capas…` with the caller's own credential, so each worker applies
the caller's scope to what it holds; the parts are merged here. Each part names the
partitions it covers: the answer is given only when the parts cover every partition once
(else a rebalance is under way: 503 with Retry-After, like a command).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from fastapi import Request

from services.capa.adapters.forwarding import CommandForwarder, ForwardFailed
from services.capa.entrypoints.problems import unavailable
from services.capa.entrypoints.worker import PARTITIONS, CapaStreams

INTERNAL_PREFIX = "/internal/v1/capas"

Part = dict[str, Any]


def peer_urls(streams: CapaStreams) -> list[str]:
    """The API URLs of the other workers holding partitions of the commands topic."""
    app, topic = streams.commands.app, streams.commands.topic_name
    own = str(app.conf.canonical_url).rstrip("/")
    try:
        hosts = app.router.external_topics_metadata()
    except Exception:  # no assignment yet
        return []
    return sorted(
        url.rstrip("/")
        for url, topics in hosts.items()
        if topics.get(topic) and url.rstrip("/") != own
    )


async def gather_parts(
    request: Request, streams: CapaStreams, local: Callable[[], Part]
) -> list[Part]:
    """This worker's part and every other worker's, covering each partition exactly once."""
    if not await streams.commands.wait_settled():
        raise unavailable("the CAPA worker is starting or rebalancing; retry")
    parts = [local()]  # read at once, with the partitions it covers (no await in between)
    forwarder = request.app.state.forwarder
    assert isinstance(forwarder, CommandForwarder)
    internal_path = INTERNAL_PREFIX + request.url.path.removeprefix("/v1/capas")
    for url in peer_urls(streams):
        try:
            status, _, body = await forwarder.forward(
                "GET", url, internal_path, request.url.query, request.headers, b""
            )
        except ForwardFailed as exc:
            raise unavailable(f"the CAPA worker at {url} did not answer: {exc}; retry") from exc
        if status != 200:
            raise unavailable(f"the CAPA worker at {url} answered {status}; retry")
        parts.append(json.loads(body))
    covered = sorted(p for part in parts for p in part["partitions"])
    if covered != list(range(PARTITIONS)):
        raise unavailable(f"partitions {covered} answered of {PARTITIONS}: rebalancing; retry")
    return parts


def merge_pages(parts: Sequence[Part], offset: int, limit: int) -> tuple[list[Any], int]:
    """One page over the parts' items (each sorted, each its first offset+limit), and the
    total; the same order as on one worker: oldest nonconformity first, then CAPA id."""

    def order(view: dict[str, Any]) -> tuple[datetime, str]:
        return datetime.fromisoformat(view["opened_at"]), str(view["capa_id"])

    items = sorted((item for part in parts for item in part["items"]), key=order)
    return items[offset : offset + limit], sum(int(part["total"]) for part in parts)
