"""Example events for the OpenAPI document: at least one of every published family."""

from __future__ import annotations

from typing import Any

_SOURCE = "urn:vn:gov:h56:one-stop-shop"


def _event(
    event_id: str,
    event_type: str,
    subject: str,
    time: str,
    data: dict[str, Any],
    agency: str = "H56.01",
    source: str = _SOURCE,
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": time,
        "datacontenttype": "application/json",
        "agencycode": agency,
        "data": data,
    }


EXAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "dossier.received": _event(
        "8d2b6f0e-1c1a-4f5e-9a51-0f3f7e0c2a11",
        "vn.qms.dossier.received.v1",
        "H56.01-250301-0042",
        "2025-03-01T08:15:00+07:00",
        {
            "procedure_code": "1.001612.000.00.00.H56",
            "channel": "online",
            "online_level": 4,
            "due_at": "2025-03-06T17:00:00+07:00",
            "applicant_id": "applicant-5c1e9a77",
            "officer_id": "officer-7f3a9c21",
        },
    ),
    "dossier.resolved": _event(
        "8d2b6f0e-1c1a-4f5e-9a51-0f3f7e0c2a12",
        "vn.qms.dossier.resolved.v1",
        "H56.01-250301-0042",
        "2025-03-05T10:30:00+07:00",
        {
            "procedure_code": "1.001612.000.00.00.H56",
            "outcome": "approved",
            "received_at": "2025-03-01T08:15:00+07:00",
            "due_at": "2025-03-06T17:00:00+07:00",
            "officer_id": "officer-7f3a9c21",
        },
    ),
    "complaint.filed": _event(
        "c0mp-2025-000017",
        "vn.qms.complaint.filed.v1",
        "CMP-H56-2025-000017",
        "2025-03-07T09:00:00+07:00",
        {
            "kind": "complaint",
            "channel": "online",
            "category": "processing_delay",
            "procedure_code": "1.001612.000.00.00.H56",
            "dossier_code": "H56.01-250301-0042",
            "complainant_id": "citizen-91b2c3d4",
        },
        source="urn:vn:gov:h56:feedback-portal",
    ),
    "satisfaction.rated": _event(
        "rating-2025-0003141",
        "vn.qms.satisfaction.rated.v1",
        "RATING-H56-0003141",
        "2025-03-05T11:00:00+07:00",
        {
            "dossier_code": "H56.01-250301-0042",
            "procedure_code": "1.001612.000.00.00.H56",
            "channel": "online",
            "score": 5,
        },
    ),
    "audit.finding_recorded": _event(
        "audit-2025-01-finding-03",
        "vn.qms.audit.finding_recorded.v1",
        "AUDIT-H56-2025-01",
        "2025-04-10T14:00:00+07:00",
        {
            "finding_id": "F-03",
            "kind": "internal_audit",
            "audited_agency": "H56.01",
            "classification": "minor",
            "iso_clause": "8.5.1",
            "process": "Business registration",
            "procedure_code": "1.001612.000.00.00.H56",
            "description": "Three dossiers transferred between steps without the control sheet.",
            "auditor_id": "auditor-3e4f5a6b",
        },
        source="urn:vn:gov:h56:iso-secretariat",
    ),
    "objective.set": _event(
        "objective-h56-01-2025-ontime",
        "vn.qms.objective.set.v1",
        "OBJ-H56.01-2025-ONTIME",
        "2025-01-02T08:00:00+07:00",
        {"indicator": "on_time_rate", "target": 98.0, "comparison": "at_least", "period": "2025"},
        source="urn:vn:gov:h56:iso-secretariat",
    ),
    "procedure.amended": _event(
        "register-1.001612-v2",
        "vn.qms.procedure.amended.v1",
        "1.001612.000.00.00.H56",
        "2026-06-20T09:00:00+07:00",
        {
            "procedure_code": "1.001612.000.00.00.H56",
            "version": 2,
            "name": "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
            "statutory_working_days": 7,
            "effective_from": "2026-07-01",
            "levels": ["province"],
            "legal_basis": "QĐ 1234/QĐ-UBND",
        },
        source="urn:vn:gov:h56:procedure-register",
        agency="H56",
    ),
    "document.checked": _event(
        "doc-office-2026-0412-check",
        "vn.qms.document.checked.v1",
        "doc-H56.01-2026-0412",
        "2026-06-22T15:30:00+07:00",
        {
            "conforming": False,
            "nonconformities": ["place_and_date", "recipients"],
            "note": "Thiếu địa danh; nơi nhận không ghi lưu VT.",
        },
        source="urn:vn:gov:h56:document-office",
    ),
    "document.process_revised": _event(
        "iso-H56.01-QT-07-r3",
        "vn.qms.document.process_revised.v1",
        "iso-H56.01-QT-07",
        "2026-07-10T10:00:00+07:00",
        {
            "code": "QT-07",
            "title": "Quy trình cấp Phiếu lý lịch tư pháp",
            "revision": 3,
            "issued_on": "2026-07-10",
            "legal_basis_procedures": [{"procedure_code": "1.001612.000.00.00.H56", "version": 2}],
        },
        source="urn:vn:gov:h56:iso-secretariat",
    ),
}


def openapi_examples() -> dict[str, dict[str, Any]]:
    """`examples` for an OpenAPI media type object."""
    return {
        name: {"summary": f"{event['type']} ({name.split('.', 1)[0]} family)", "value": event}
        for name, event in EXAMPLE_EVENTS.items()
    }


def batch_example() -> dict[str, dict[str, Any]]:
    return {
        "mixed": {"summary": "one event of every family", "value": list(EXAMPLE_EVENTS.values())}
    }
