"""Stats route: how far the CAPA service has come through its topics (caught up or not)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.capa.entrypoints.deps import Caller, Streams
from services.capa.entrypoints.problems import READ_RESPONSES, UNAVAILABLE, unavailable

router = APIRouter(prefix="/v1", tags=["ops"], responses=READ_RESPONSES)


@router.get("/stats", responses={503: UNAVAILABLE})
async def stats(streams: Streams, caller: Caller) -> dict[str, Any]:
    """Consumer lag per source partition, read from the broker now, and whether it is zero.

    `consumer.caught_up` is true once the group has committed every record on the source
    topics, the commands topic and the sightings topic: every CAPA the published events call
    for is opened and every command sent so far is decided. Any authenticated caller (the
    figures hold no agency data).
    """
    try:
        reading = await streams.lag.read()
    except Exception as exc:  # a broker that does not answer is the only way this fails
        raise unavailable(f"consumer lag not read from Kafka: {type(exc).__name__}: {exc}") from exc
    return {"consumer": reading.as_dict(), "ready": streams.ready()}
