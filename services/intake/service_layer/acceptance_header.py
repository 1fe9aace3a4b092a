"""What the shared window needs of an accepted event, in one record header intake writes.

Every replica reads every event the others accept (`adapters.acceptance_tail`); taking
(source, id), the receipt time and the content digest from the value meant parsing ~500
bytes of JSON and digesting them again, most of that reading's cost. Intake knows all
four when it appends, so it writes them beside the value, and readers take them from
there. A record without the header (appended before it existed, or by another writer)
is read from its value as before; a header that does not decode is ignored the same way.

Layout (network byte order): version 1 (1 byte), content digest (16 bytes), lengths of
the receipt time and of the source (1 and 4 bytes), then the receipt time (ISO 8601,
ASCII), the source and the id (UTF-8, the id to the end).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import datetime

from services.intake.domain.acceptance import Acceptance, EventKey
from services.intake.service_layer.content import DIGEST_BYTES
from services.intake.service_layer.ports import Position

ACCEPTANCE_HEADER = "qms-acceptance"
_VERSION = 1
_LAYOUT = struct.Struct(f">B{DIGEST_BYTES}sBI")


def receipt_text(receivedtime: datetime) -> bytes:
    """The receipt time as the header spells it; computed once for a request's events."""
    return receivedtime.isoformat().encode()


def acceptance_header(key: EventKey, receipt: bytes, content: bytes) -> tuple[str, bytes]:
    """The header of an event admitted with `content` at `receipt` (`receipt_text`)."""
    source, event_id = key[0].encode(), key[1].encode()
    head = _LAYOUT.pack(_VERSION, content, len(receipt), len(source))
    return ACCEPTANCE_HEADER, head + receipt + source + event_id


def read_acceptance_header(headers: Iterable[tuple[str, bytes]], at: Position) -> Acceptance | None:
    """The acceptance of the record at `at` its header tells, or None when the record has
    no header that decodes."""
    for name, value in headers:
        if name != ACCEPTANCE_HEADER:
            continue
        try:
            version, content, receipt_len, source_len = _LAYOUT.unpack_from(value)
            if version != _VERSION:
                return None
            cursor = _LAYOUT.size
            receivedtime = datetime.fromisoformat(value[cursor : cursor + receipt_len].decode())
            cursor += receipt_len
            source = value[cursor : cursor + source_len].decode()
            event_id = value[cursor + source_len :].decode()
        except (struct.error, ValueError, TypeError):  # UnicodeDecodeError is a ValueError
            return None
        if receivedtime.tzinfo is None or not source or not event_id:
            return None
        return Acceptance(
            event_id, source, at.topic, at.partition, at.offset, receivedtime, content
        )
    return None
