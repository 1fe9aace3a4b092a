"""Read API route of one dossier's process control sheet (phiếu kiểm soát quá trình)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParameter

from services.metrics.adapters import sheet_queries
from services.metrics.entrypoints.deps import READ_RESPONSES, Reader, Store, not_found

router = APIRouter(prefix="/v1/dossiers", responses=READ_RESPONSES)

# A dossier code is the events' subject (schemas.envelope.CloudEvent.subject); it may hold
# `/`, so the route takes the rest of the path up to `/sheet`.
DossierCode = Annotated[
    str,
    PathParameter(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$",
        description="The dossier code (the subject of its events)",
    ),
]


@router.get("/{code:path}/sheet")
def dossier_sheet(store: Store, reader: Reader, code: DossierCode) -> dict[str, Any]:
    """The dossier's steps in order: unit, officer, handed over and taken over at, step due
    time and allotted hours, time spent, late or not, and where a late dossier lost its time.
    404 for an unknown dossier and for one of an agency outside the caller's scope."""
    sheet = sheet_queries.dossier_sheet(store, code, reader.scope)
    if sheet is None:
        raise not_found(f"no dossier {code!r} in your agencies")
    return sheet
