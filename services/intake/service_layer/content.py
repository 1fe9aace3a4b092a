"""The content digest of an event: what tells a resent event from a different one.

The same (source, id) sent again with the same content is a duplicate; with other content
it is a conflict. The digest covers the event as its publisher sent it, in the form the
contract serialises it (so equal values written differently, such as `+07:00` times with
and without milliseconds, are equal), without the attributes intake stamps on acceptance.

On the hot path it comes from bytes intake already has: the record value without the
stamp members, which intake inserts right after `agencycode`. At start-up the same digest
is computed from the records on the topics (`adapters.acceptance_replay`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic_core import to_json

from schemas.envelope import CloudEvent

DIGEST_BYTES = 16  # BLAKE2b-128: a million remembered events cost 16 MB of digests


@lru_cache(maxsize=256)
def stamp_json(
    receivedtime: datetime | str, publisher: str, traceparent: str | None = None
) -> bytes:
    """The attributes intake stamps, as the JSON members it inserts into the record (the
    trace context only when tracing is on).

    Cached: every event of a request shares its receipt time, publisher and trace context.
    """
    stamp = b',"receivedtime":' + to_json(receivedtime) + b',"publisher":' + to_json(publisher)
    if traceparent is not None:
        stamp += b',"traceparent":' + to_json(traceparent)
    return stamp


def stamp_attributes(
    receivedtime: datetime, publisher: str, traceparent: str | None
) -> dict[str, Any]:
    """The attributes of `stamp_json` as a mapping, for a model or a raw event."""
    stamped: dict[str, Any] = {"receivedtime": receivedtime, "publisher": publisher}
    if traceparent is not None:
        stamped["traceparent"] = traceparent
    return stamped


def content_digest(unstamped: bytes) -> bytes:
    """The digest of an event's JSON without intake's stamp."""
    return hashlib.blake2b(unstamped, digest_size=DIGEST_BYTES).digest()


def record_digest(value: bytes, stamp: bytes) -> bytes | None:
    """The digest of a stamped record value, or None when `stamp` is not in it."""
    at = value.find(stamp)
    if at < 0:
        return None
    digest = hashlib.blake2b(value[:at], digest_size=DIGEST_BYTES)
    digest.update(value[at + len(stamp) :])
    return digest.digest()


def event_digest(event: CloudEvent) -> bytes:
    """The digest computed from the model: always right, slower (a copy and a dump)."""
    unstamped = event.model_copy(
        update={"receivedtime": None, "publisher": None, "traceparent": None}
    )
    return content_digest(unstamped.model_dump_json(exclude_none=True).encode())
