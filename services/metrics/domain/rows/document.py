"""`document_events` (deploy/clickhouse/0014): document control, one row per event."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from schemas.document import (
    DocumentCheckedData,
    DocumentIssuedData,
    DocumentRevisedData,
    DocumentWithdrawnData,
    ProcessDocumentData,
)
from schemas.envelope import CloudEvent
from services.metrics.domain.rows.envelope import payload, when


class DocumentRow(NamedTuple):
    """One row of `document_events`; the field names are the column names."""

    source: str
    id: str
    type: str
    document: str
    agency: str
    time: datetime
    day: date
    kind: str
    number: str
    dated_on: date  # the day the data dates: issued_on, or withdrawn_on
    conforming: int
    nonconformities: list[str]
    revision: int
    process_code: str
    basis_procedures: list[str]
    basis_versions: list[int]


def document_row(event: CloudEvent) -> DocumentRow:
    data = payload(event)
    time, day = when(event)
    row = DocumentRow(
        source=event.source,
        id=event.id,
        type=event.type,
        document=event.subject,
        agency=event.agencycode,
        time=time,
        day=day,
        kind="",
        number="",
        dated_on=day,
        conforming=0,
        nonconformities=[],
        revision=0,
        process_code="",
        basis_procedures=[],
        basis_versions=[],
    )
    if isinstance(data, DocumentIssuedData):
        return row._replace(
            kind=data.kind.value, number=data.number, dated_on=data.issued_on, revision=1
        )
    if isinstance(data, DocumentCheckedData):
        return row._replace(
            conforming=int(data.conforming),
            nonconformities=[rule.value for rule in data.nonconformities],
        )
    if isinstance(data, DocumentRevisedData):
        return row._replace(
            number=data.number or "", dated_on=data.issued_on, revision=data.revision
        )
    if isinstance(data, DocumentWithdrawnData):
        return row._replace(dated_on=data.withdrawn_on)
    assert isinstance(data, ProcessDocumentData)
    return row._replace(
        dated_on=data.issued_on,
        revision=data.revision,
        process_code=data.code,
        basis_procedures=[p.procedure_code for p in data.legal_basis_procedures],
        basis_versions=[p.version for p in data.legal_basis_procedures],
    )
