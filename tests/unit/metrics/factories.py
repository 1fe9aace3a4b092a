"""Event factories for the metrics tests: valid CloudEvents built through the contracts."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from schemas.catalogue import parse_event
from schemas.envelope import CloudEvent

SOURCE = "urn:vn:gov:test:one-stop-shop"
_ids = itertools.count(1)


def event(
    type_: str, subject: str, agency: str, time: datetime, data: dict[str, Any], **envelope: Any
) -> CloudEvent:
    raw = {
        "specversion": "1.0",
        "id": envelope.pop("id", f"evt-{next(_ids)}"),
        "source": envelope.pop("source", SOURCE),
        "type": f"vn.qms.{type_}.v1",
        "subject": subject,
        "time": time.isoformat(),
        "agencycode": agency,
        "data": data,
        **envelope,
    }
    return parse_event(raw)


def received(
    code: str,
    agency: str,
    at: datetime,
    due: datetime,
    *,
    channel: str = "counter",
    level: int | None = None,
    procedure: str = "1.001612.000.00.00.H56",
    procedure_version: int | None = None,
) -> CloudEvent:
    data: dict[str, Any] = {
        "procedure_code": procedure,
        "channel": channel,
        "due_at": due.isoformat(),
        "applicant_id": "applicant-0001",
    }
    if level is not None:
        data["online_level"] = level
    if procedure_version is not None:
        data["procedure_version"] = procedure_version
    return event("dossier.received", code, agency, at, data)


def resolved(
    code: str,
    agency: str,
    received_at: datetime,
    at: datetime,
    due: datetime,
    procedure: str = "1.001612.000.00.00.H56",
) -> CloudEvent:
    return event(
        "dossier.resolved",
        code,
        agency,
        at,
        {
            "procedure_code": procedure,
            "outcome": "approved",
            "received_at": received_at.isoformat(),
            "due_at": due.isoformat(),
        },
    )


def step_transferred(
    code: str,
    agency: str,
    at: datetime,
    step: int,
    from_unit: str,
    to_unit: str,
    *,
    officer: str = "off-0001",
    due: datetime | None = None,
    allotted_hours: float | None = None,
    taken_over: datetime | None = None,
    procedure: str = "1.001612.000.00.00.H56",
    **envelope: Any,
) -> CloudEvent:
    """Step `step` of the dossier's sheet handed over by `from_unit` to `to_unit` at `at`."""
    data: dict[str, Any] = {
        "procedure_code": procedure,
        "step": step,
        "from_unit": from_unit,
        "to_unit": to_unit,
        "officer_id": officer,
    }
    if due is not None:
        data["step_due_at"] = due.isoformat()
    if allotted_hours is not None:
        data["allotted_working_hours"] = allotted_hours
    if taken_over is not None:
        data["to_unit_received_at"] = taken_over.isoformat()
    return event("dossier.step_transferred", code, agency, at, data, **envelope)


def supplement_received(
    code: str,
    agency: str,
    at: datetime,
    new_due: datetime,
    procedure: str = "1.001612.000.00.00.H56",
) -> CloudEvent:
    return event(
        "dossier.supplement_received",
        code,
        agency,
        at,
        {
            "procedure_code": procedure,
            "new_due_at": new_due.isoformat(),
        },
    )


def supplement_requested(
    code: str, agency: str, at: datetime, procedure: str = "1.001612.000.00.00.H56"
) -> CloudEvent:
    data = {"procedure_code": procedure, "reason": "missing papers", "officer_id": "officer-0001"}
    return event("dossier.supplement_requested", code, agency, at, data)


def apology_issued(
    code: str,
    agency: str,
    at: datetime,
    new_due: datetime,
    procedure: str = "1.001612.000.00.00.H56",
) -> CloudEvent:
    data = {"procedure_code": procedure, "new_due_at": new_due.isoformat(), "reason": "late"}
    return event("dossier.apology_issued", code, agency, at, data)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def complaint_filed(
    cid: str, agency: str, at: datetime, *, kind: str = "complaint", dossier: str | None = None
) -> CloudEvent:
    data: dict[str, Any] = {
        "kind": kind,
        "channel": "online",
        "category": "processing_delay",
        "complainant_id": "citizen-0001",
    }
    if dossier:
        data["dossier_code"] = dossier
    return event("complaint.filed", cid, agency, at, data)


def complaint_resolved(cid: str, agency: str, at: datetime, substantiated: bool) -> CloudEvent:
    return event(
        "complaint.resolved",
        cid,
        agency,
        at,
        {
            "substantiated": substantiated,
            "resolution": "answered",
            "officer_id": "officer-0001",
        },
    )


def rating(rid: str, agency: str, at: datetime, score: int) -> CloudEvent:
    return event("satisfaction.rated", rid, agency, at, {"channel": "counter", "score": score})


def audit_conducted(
    aid: str, publisher_agency: str, audited: str, at: datetime, *, kind: str, on_site: bool
) -> CloudEvent:
    return event(
        "audit.conducted",
        aid,
        publisher_agency,
        at,
        {
            "kind": kind,
            "audited_agency": audited,
            "on_site": on_site,
            "auditor_ids": ["auditor-0001"],
        },
    )


def finding(
    aid: str,
    publisher_agency: str,
    audited: str,
    at: datetime,
    finding_id: str,
    classification: str,
    kind: str = "internal_audit",
) -> CloudEvent:
    return event(
        "audit.finding_recorded",
        aid,
        publisher_agency,
        at,
        {
            "finding_id": finding_id,
            "kind": kind,
            "audited_agency": audited,
            "classification": classification,
            "iso_clause": "8.5.1",
            "process": "land registration",
            "description": "step skipped",
            "auditor_id": "auditor-0001",
        },
    )


def objective_set(
    oid: str,
    agency: str,
    at: datetime,
    indicator: str,
    target: float,
    period: str,
    comparison: str = "at_least",
) -> CloudEvent:
    return event(
        "objective.set",
        oid,
        agency,
        at,
        {
            "indicator": indicator,
            "target": target,
            "comparison": comparison,
            "period": period,
        },
    )


def procedure_version(
    code: str,
    version: int,
    at: datetime,
    effective_from: str,
    statutory_days: int,
    levels: tuple[str, ...] = ("province",),
    agency: str = "H56",
) -> CloudEvent:
    """The register's procedure.published (version 1) or procedure.amended (later versions)."""
    return event(
        "procedure.published" if version == 1 else "procedure.amended",
        code,
        agency,
        at,
        {
            "procedure_code": code,
            "version": version,
            "name": f"procedure {code}",
            "statutory_working_days": statutory_days,
            "effective_from": effective_from,
            "levels": list(levels),
            "legal_basis": f"QĐ {version}/QĐ-UBND",
        },
    )


def procedure_repealed(
    code: str, at: datetime, effective_from: str, agency: str = "H56"
) -> CloudEvent:
    return event(
        "procedure.repealed",
        code,
        agency,
        at,
        {"procedure_code": code, "effective_from": effective_from, "legal_basis": "QĐ 9/QĐ-UBND"},
    )


DOCUMENT_OFFICE = "urn:vn:gov:test:document-office"


def document_issued(
    document: str, agency: str, at: datetime, issued_on: str, kind: str = "decision"
) -> CloudEvent:
    data = {"kind": kind, "number": f"{document}/QĐ-UBND", "title": "t", "issued_on": issued_on}
    return event("document.issued", document, agency, at, data, source=DOCUMENT_OFFICE)


def document_checked(
    document: str, agency: str, at: datetime, *broken: str, **envelope: Any
) -> CloudEvent:
    data = {"conforming": not broken, "nonconformities": list(broken)}
    return event("document.checked", document, agency, at, data, source=DOCUMENT_OFFICE, **envelope)


def document_withdrawn(document: str, agency: str, at: datetime, withdrawn_on: str) -> CloudEvent:
    data = {"withdrawn_on": withdrawn_on}
    return event("document.withdrawn", document, agency, at, data, source=DOCUMENT_OFFICE)


def process_document(
    document: str,
    agency: str,
    at: datetime,
    revision: int,
    *basis: tuple[str, int],
    code: str = "QT-01",
) -> CloudEvent:
    """An ISO process document published (revision 1) or revised, implementing `basis`."""
    data = {
        "code": code,
        "title": f"process {code}",
        "revision": revision,
        "issued_on": at.date().isoformat(),
        "legal_basis_procedures": [{"procedure_code": c, "version": v} for c, v in basis],
    }
    kind = "document.process_published" if revision == 1 else "document.process_revised"
    return event(kind, document, agency, at, data, source=DOCUMENT_OFFICE)


def capa(
    type_: str, capa_id: str, agency: str, at: datetime, sequence: int, **data: Any
) -> CloudEvent:
    base: dict[str, Any] = {
        "sequence": sequence,
        "actor_id": "system:policy",
        "actor_role": "system",
    }
    if type_ == "opened":
        base.update(
            {
                "source": "late_dossiers",
                "agency": agency,
                "process": "land registration",
                "severity": "minor",
                "description": "late dossiers",
                "owner_id": "owner-0001",
                "correction_due_on": (at + days(7)).date().isoformat(),
                "closure_due_on": (at + days(data.pop("closure_days", 60))).date().isoformat(),
            }
        )
    elif type_ == "effectiveness_verified":
        base.update({"verified_on": at.date().isoformat()})
    elif type_ == "closed":
        base.update({"closed_on": at.date().isoformat()})
    elif type_ == "recurrence_flagged":
        base.update({"root_cause_category": "process"})
    base.update(data)
    return event(f"capa.{type_}", capa_id, agency, at, base)
