"""The CloudEvents 1.0 envelope every QMS Trail event travels in."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.base import AgencyCode, Contract, Timestamp

EVENT_TYPE_PREFIX = "vn.qms."


class CloudEvent(Contract):
    """CloudEvents 1.0 envelope (structured JSON) with the QMS extension attributes.

    `id` is unique per `source` and is the idempotency key; `subject` is the aggregate id
    (dossier code, complaint id, audit id, CAPA id) and becomes the Kafka record key, so
    each aggregate keeps its order.
    """

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128, description="Publisher-unique event id.")
    source: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$|^/\S*$",
        description="URI-reference of the publishing system.",
        examples=["urn:vn:gov:h56:one-stop-shop"],
    )
    type: str = Field(description="Event type, e.g. 'vn.qms.dossier.received.v1'.")
    subject: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$",
        description="Aggregate id; the Kafka record key.",
    )
    time: Timestamp = Field(description="When it happened (RFC 3339 with a time zone).")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = Field(default=None, max_length=512)
    agencycode: AgencyCode = Field(description="Extension: the agency the event belongs to.")
    receivedtime: Timestamp | None = Field(
        default=None, description="Extension set by intake: when intake accepted the event."
    )
    publisher: str | None = Field(
        default=None,
        max_length=128,
        description="Extension set by intake: the authenticated publisher.",
    )
    traceparent: str | None = Field(
        default=None,
        pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        description="Extension set by intake when tracing is on (CloudEvents distributed "
        "tracing): the W3C trace context of the span that accepted the event.",
    )
    # Declared after intake's stamp members, so intake's fast path can splice its stamp in
    # right after `agencycode` (services/intake/service_layer/valid_batch.py).
    recordedtime: Timestamp | None = Field(
        default=None,
        description="Extension: when the originating system (the one-stop-shop software) "
        "recorded the event; set by a publisher that forwards in bulk or imports its "
        "history. Not before `time`, not after intake's receipt; the timeliness of updates "
        "is measured from it, else from `receivedtime`.",
    )

    @property
    def recorded_at(self) -> datetime | None:
        """When the event was recorded: by the originating system (`recordedtime`) when its
        publisher says so, else on receipt by intake (`receivedtime`); None when neither."""
        return self.recordedtime if self.recordedtime is not None else self.receivedtime

    @property
    def family(self) -> str:
        """`dossier` for `vn.qms.dossier.received.v1`."""
        return self.type.removeprefix(EVENT_TYPE_PREFIX).split(".", 1)[0]
