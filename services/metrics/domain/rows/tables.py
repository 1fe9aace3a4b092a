"""Which table each row type fills and which family's events feed which table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.envelope import CloudEvent
from services.metrics.domain.rows.audit import AuditRow, audit_row
from services.metrics.domain.rows.capa import CapaRow, capa_row
from services.metrics.domain.rows.checkpoints import CheckpointRow
from services.metrics.domain.rows.complaint import ComplaintRow, complaint_row
from services.metrics.domain.rows.document import DocumentRow, document_row
from services.metrics.domain.rows.dossier import DossierRow, dossier_row
from services.metrics.domain.rows.envelope import EventRow
from services.metrics.domain.rows.objective import ObjectiveRow, objective_row
from services.metrics.domain.rows.procedure import ProcedureRow, procedure_row
from services.metrics.domain.rows.satisfaction import SatisfactionRow, satisfaction_row

# Every table the consumer writes and its row type (deploy/clickhouse/ holds the DDL); a
# row's field names are the table's column names, and it is inserted by those names.
TABLE_ROWS: Mapping[str, type[tuple[Any, ...]]] = {
    "events": EventRow,
    "dossier_events": DossierRow,
    "complaint_events": ComplaintRow,
    "satisfaction_ratings": SatisfactionRow,
    "audit_events": AuditRow,
    "objective_events": ObjectiveRow,
    "procedure_events": ProcedureRow,
    "document_events": DocumentRow,
    "capa_events": CapaRow,
    "ledger_checkpoints": CheckpointRow,
}
TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    table: row._fields  # type: ignore[attr-defined]  # every row type is a NamedTuple
    for table, row in TABLE_ROWS.items()
}

# The raw events table is written last: once /v1/stats counts an event, its facts are in.
INSERT_ORDER: tuple[str, ...] = (*(t for t in TABLE_ROWS if t != "events"), "events")

FactBuilder = Callable[[CloudEvent], tuple[Any, ...]]

# A family's fact table and the function that builds its row; a family without one (a
# future family) is kept in `events` only.
FACT_TABLES: Mapping[str, tuple[str, FactBuilder]] = {
    "dossier": ("dossier_events", dossier_row),
    "complaint": ("complaint_events", complaint_row),
    "satisfaction": ("satisfaction_ratings", satisfaction_row),
    "audit": ("audit_events", audit_row),
    "objective": ("objective_events", objective_row),
    "procedure": ("procedure_events", procedure_row),
    "document": ("document_events", document_row),
    "capa": ("capa_events", capa_row),
}
