"""The document family's own rules: a failed format check says why, a legal basis is clear."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import parse_event
from schemas.catalogue import EventValidationError
from schemas.document import DocumentChecked, ProcessDocumentRevised

pytestmark = pytest.mark.unit


def _event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "doc-1",
        "source": "urn:vn:gov:h56:document-office",
        "type": f"vn.qms.document.{kind}.v1",
        "subject": "doc-H56.01-0001",
        "time": "2026-06-22T15:30:00+07:00",
        "agencycode": "H56.01",
        "data": data,
    }


def _error(kind: str, data: dict[str, Any]) -> str:
    with pytest.raises(EventValidationError) as refused:
        parse_event(_event(kind, data))
    return str(refused.value)


def test_a_nonconforming_check_names_the_rules_it_breaks() -> None:
    event = parse_event(
        _event("checked", {"conforming": False, "nonconformities": ["seal", "recipients"]})
    )
    assert isinstance(event, DocumentChecked)
    assert [r.value for r in event.data.nonconformities] == ["seal", "recipients"]
    assert "at least one rule" in _error("checked", {"conforming": False})
    assert "must be empty" in _error("checked", {"conforming": True, "nonconformities": ["seal"]})
    assert "at most once" in _error(
        "checked", {"conforming": False, "nonconformities": ["seal", "seal"]}
    )
    assert "nonconformities" in _error(
        "checked", {"conforming": False, "nonconformities": ["font"]}
    )
    assert "conforming" in _error("checked", {"conforming": "no"})


def test_a_process_document_names_each_procedure_of_its_legal_basis_once() -> None:
    basis = [{"procedure_code": "1.001612", "version": 2}]
    data = {"code": "QT-07", "title": "t", "revision": 3, "issued_on": "2026-07-10"}
    event = parse_event(_event("process_revised", {**data, "legal_basis_procedures": basis}))
    assert isinstance(event, ProcessDocumentRevised)
    assert event.data.legal_basis_procedures[0].version == 2
    assert "legal_basis_procedures" in _error(
        "process_revised", {**data, "legal_basis_procedures": []}
    )
    assert "each procedure_code at most once" in _error(
        "process_revised", {**data, "legal_basis_procedures": basis * 2}
    )
    assert "version" in _error(
        "process_revised",
        {**data, "legal_basis_procedures": [{"procedure_code": "1.001612", "version": 0}]},
    )
