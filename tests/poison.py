"""Poison records as a hostile or buggy publisher could put them on the topics directly.

Each is the JSON of an otherwise valid event with one value no store can hold (or bytes
that are not JSON at all), with the field a dead-letter reason must name. Consumers must
dead-letter each one and keep every ordinary record around it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

SOURCE = "urn:vn:gov:test:poison"
AGENCY = "H56.01"
PROCEDURE = "1.001612.000.00.00.H56"


@dataclass(frozen=True)
class Poison:
    """One poison kind: the topic it goes to, its bytes, and the field its reason names."""

    kind: str
    topic: str  # short name, e.g. "dossier.v1"
    value: bytes
    field: str


def _envelope(type_: str, subject: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"poison-{uuid.uuid4().hex[:12]}",
        "source": SOURCE,
        "type": f"vn.qms.{type_}.v1",
        "subject": subject,
        "time": time,
        "agencycode": AGENCY,
        "data": data,
    }


def dossier_received(
    time: str = "2026-02-02T09:00:00+07:00",
    due_at: str = "2026-02-09T17:00:00+07:00",
    online_level: Any = 3,
) -> dict[str, Any]:
    return _envelope(
        "dossier.received",
        f"POISON-{uuid.uuid4().hex[:8]}",
        time,
        {
            "procedure_code": PROCEDURE,
            "channel": "online",
            "online_level": online_level,
            "due_at": due_at,
            "applicant_id": "applicant-0001",
        },
    )


def audit_planned(planned_on: str) -> dict[str, Any]:
    return _envelope(
        "audit.planned",
        f"AUDIT-{uuid.uuid4().hex[:8]}",
        "2026-02-02T09:00:00+07:00",
        {
            "kind": "internal_audit",
            "audited_agency": AGENCY,
            "planned_on": planned_on,
            "on_site": True,
            "scope": "one-stop shop",
            "lead_auditor_id": "auditor-0001",
        },
    )


def audit_closed(findings: int) -> dict[str, Any]:
    return _envelope(
        "audit.closed",
        f"AUDIT-{uuid.uuid4().hex[:8]}",
        "2026-02-02T09:00:00+07:00",
        {"kind": "internal_audit", "audited_agency": AGENCY, "findings": findings},
    )


def _with_number(document: dict[str, Any], literal: str) -> bytes:
    """The document with `online_level` set to a number literal json.dumps cannot write."""
    placeholder = "__NUMBER__"
    document["data"]["online_level"] = placeholder
    return json.dumps(document).replace(f'"{placeholder}"', literal).encode()


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def poison_records() -> list[Poison]:
    """One record of every poison kind (fresh ids on every call)."""
    before_1970 = _json(dossier_received(time="1969-06-30T12:00:00+07:00"))
    year_one = _json(dossier_received(time="0001-01-01T00:00:00+08:00"))
    due_9999 = _json(dossier_received(due_at="9999-12-31T23:59:59-07:00"))
    not_utf8 = b'{"id": "\xff\xfe", "type": "vn.qms.dossier.received.v1"}'
    return [
        Poison("time before 1970", "dossier.v1", before_1970, "time"),
        Poison("time in year 0001", "dossier.v1", year_one, "time"),
        Poison("date 0001-01-01", "audit.v1", _json(audit_planned("0001-01-01")), "planned_on"),
        Poison("count of 2^32", "audit.v1", _json(audit_closed(2**32)), "findings"),
        Poison("due_at in year 9999", "dossier.v1", due_9999, "due_at"),
        Poison(
            "number 1e999", "dossier.v1", _with_number(dossier_received(), "1e999"), "online_level"
        ),
        Poison(
            "Infinity", "dossier.v1", _with_number(dossier_received(), "Infinity"), "online_level"
        ),
        Poison("NaN", "dossier.v1", _with_number(dossier_received(), "NaN"), "online_level"),
        Poison("not JSON", "dossier.v1", b'{"specversion": "1.0", "id": ', "value"),
        Poison("not UTF-8", "dossier.v1", not_utf8, "value"),
    ]


def hostile_bytes() -> dict[str, bytes]:
    """Record values a ledger must chain without stalling (none is I-JSON)."""
    event = dossier_received()
    huge_subject = dict(event, subject="ệ" * 300_000)  # 900 kB of UTF-8, 1.8 MB as \\u escapes
    return {
        "not UTF-8": b"\xff\xfe\xfd",
        "not JSON": b"{not json",
        "empty": b"",
        "1e999": _with_number(dossier_received(), "1e999"),
        "NaN": _with_number(dossier_received(), "NaN"),
        "Infinity": _with_number(dossier_received(), "-Infinity"),
        "huge integer": _with_number(dossier_received(), "9" * 5000),
        "integer beyond 2^53": _with_number(dossier_received(), str(2**53 + 1)),
        "lone surrogate": json.dumps(dict(event, subject="\ud800")).encode(),
        "nested 500 deep": b"[" * 500 + b"]" * 500,
        "nested 100000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "huge non-ASCII subject": json.dumps(huge_subject, ensure_ascii=False).encode(),
    }
