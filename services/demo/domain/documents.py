"""Document control in the demo: documents issued (some failing their format check), ISO
process documents, and one procedure amended in the register.

Every agency issues a few documents over the window; most are checked, a share of them
fail (more often at a few careless agencies), and some of those pass a re-check after
correction. Three agencies publish ISO process documents at the start of the window; the
procedure most agencies share is amended about two weeks in: the first agency implementing
it revises its process document ten working days after the new version applies (in time),
the second never does (a nonconformity once the allowed days have passed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from schemas.document import (
    DocumentChecked,
    DocumentIssued,
    DocumentKind,
    DocumentRevised,
    DocumentWithdrawn,
    FormatRule,
    ProcessDocumentPublished,
    ProcessDocumentRevised,
)
from schemas.envelope import CloudEvent
from schemas.procedure import ProcedureAmended
from services.demo.domain.catalogue import PROCEDURES_BY_CODE, PROVINCE_PREFIX, Agency
from services.demo.domain.world import DAY, ISO_SECRETARIAT, World

DOCUMENT_OFFICE = "urn:vn:gov:h56:document-office"
PROCEDURE_REGISTER = "urn:vn:gov:h56:procedure-register"
CARELESS_SHARE = 0.2
NONCONFORMING_RATE = (0.08, 0.4)  # an ordinary agency, a careless one
AMENDMENT_EFFECTIVE_DAY = 10  # working day of the window the new version applies
AMENDMENT_PUBLISHED_DAY = 5
REVISED_AFTER_DAYS = 10  # working days after the new version applies
PROCESS_AGENCIES = 3
_KINDS = (
    DocumentKind.DECISION,
    DocumentKind.OFFICIAL_LETTER,
    DocumentKind.PLAN,
    DocumentKind.REPORT,
    DocumentKind.NOTICE,
)
Emit = Callable[[type[CloudEvent], int, dict[str, Any]], None]


def document_control(
    world: World, agencies: Sequence[Agency], window_days: int, avoid: frozenset[str]
) -> None:
    """Emit the documents of every agency, the process documents and the amendment of a
    procedure the register (services/demo/domain/register.py) already lists in version 1;
    `avoid`: the procedures the register itself amends or repeals."""
    for agency in agencies:
        _documents(world, agency, window_days)
    _processes(world, agencies, window_days, avoid)


def _local(world: World, minute: int) -> date:
    return world.at(minute).date()


def _documents(world: World, agency: Agency, window_days: int) -> None:
    rng = world.rng
    careless = rng.random() < CARELESS_SHARE
    rate = NONCONFORMING_RATE[careless]
    for n in range(rng.randint(2, 2 + window_days // 10)):
        subject = world.hex_id("doc")
        issued = rng.randrange(window_days) * DAY + rng.randint(30, DAY - 60)
        kind = rng.choice(_KINDS)
        number = f"{n + 1}/{kind.value[:2].upper()}-{agency.code}"
        emit = _emitter(world, subject, agency.code)
        emit(
            DocumentIssued,
            issued,
            {
                "kind": kind,
                "number": number,
                "title": f"Văn bản {number}",
                "issued_on": _local(world, issued),
            },
        )
        if rng.random() < 0.85:
            checked = issued + rng.randint(30, 2 * DAY)
            if rng.random() < rate:
                broken = rng.sample(list(FormatRule), rng.randint(1, 2))
                emit(DocumentChecked, checked, {"conforming": False, "nonconformities": broken})
                if rng.random() < 0.5:  # corrected and checked again
                    emit(DocumentChecked, checked + 2 * DAY, {"conforming": True})
            else:
                emit(DocumentChecked, checked, {"conforming": True})
        if rng.random() < 0.05:
            revised = issued + rng.randint(3, 10) * DAY
            emit(DocumentRevised, revised, {"revision": 2, "issued_on": _local(world, revised)})
        elif rng.random() < 0.03:
            withdrawn = issued + rng.randint(3, 10) * DAY
            emit(DocumentWithdrawn, withdrawn, {"withdrawn_on": _local(world, withdrawn)})


def _emitter(world: World, subject: str, agency: str, source: str = DOCUMENT_OFFICE) -> Emit:
    """Emit events of one aggregate: `emit(model, office minute, data)`."""

    def emit(model: type[CloudEvent], minute: int, data: dict[str, Any]) -> None:
        world.emit(model, source=source, subject=subject, agency=agency, minute=minute, data=data)

    return emit


def _processes(
    world: World, agencies: Sequence[Agency], window_days: int, avoid: frozenset[str]
) -> None:
    shared = Counter(code for a in agencies for code in a.procedure_codes if code not in avoid)
    if not shared:
        return
    amended_code = max(shared, key=lambda code: (shared[code], code))
    implementing = [a for a in agencies if amended_code in a.procedure_codes][:2]
    others = [a for a in agencies if a not in implementing]
    owners = [*implementing, *others][:PROCESS_AGENCIES]
    procedure = PROCEDURES_BY_CODE[amended_code]
    register = _emitter(world, amended_code, PROVINCE_PREFIX, PROCEDURE_REGISTER)
    version = {
        "procedure_code": amended_code,
        "name": procedure.name,
        "statutory_working_days": procedure.statutory_days,
        "levels": [procedure.level.value],
    }
    effective = min(AMENDMENT_EFFECTIVE_DAY, max(0, window_days - 1))
    register(
        ProcedureAmended,
        min(AMENDMENT_PUBLISHED_DAY, effective) * DAY + world.rng.randint(60, 300),
        {
            **version,
            "version": 2,
            # A new legal basis, the same statutory time: the dossiers' due dates stay as
            # the register's own plan sets them.
            "effective_from": world.calendar.day(effective),
            "legal_basis": "QĐ 2/QĐ-UBND",
        },
    )
    for n, agency in enumerate(owners):
        codes = [amended_code] if agency in implementing else []
        codes += [c for c in agency.procedure_codes if c != amended_code][: 2 - len(codes)]
        for number, code in enumerate(codes, start=1):
            subject = world.hex_id("iso")
            emit = _emitter(world, subject, agency.code, ISO_SECRETARIAT)
            published = world.rng.randint(0, 2) * DAY + world.rng.randint(30, 400)
            process = {
                "code": f"QT-{number:02d}",
                "title": f"Quy trình {PROCEDURES_BY_CODE[code].name}",
                "revision": 1,
                "issued_on": _local(world, published),
                "legal_basis_procedures": [{"procedure_code": code, "version": 1}],
            }
            emit(ProcessDocumentPublished, published, process)
            if code == amended_code and n == 0:  # the first implementer revises in time
                revised = (effective + REVISED_AFTER_DAYS) * DAY + world.rng.randint(30, 400)
                emit(
                    ProcessDocumentRevised,
                    revised,
                    {
                        **process,
                        "revision": 2,
                        "issued_on": _local(world, revised),
                        "legal_basis_procedures": [{"procedure_code": code, "version": 2}],
                    },
                )
