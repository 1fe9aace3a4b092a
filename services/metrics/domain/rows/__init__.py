"""Pure mapping from Kafka records to ClickHouse rows, one typed row per table row.

Each table has one row type (a NamedTuple) whose field names are its column names, in one
module per family; rows are built by keyword and inserted by those names. Every table is
keyed by the event's (source, id), the idempotency key of the whole system, so a
redelivered event maps to the very same row and the tables (replacing merge trees) and
the views (uniqExact, argMax) count it once.
"""

from services.metrics.domain.rows.audit import AuditRow
from services.metrics.domain.rows.batch import (
    Batch,
    Mapped,
    MappedRows,
    Mapper,
    Refusal,
    Rejected,
    Row,
    map_record,
    map_values,
    rows_of,
)
from services.metrics.domain.rows.capa import CapaRow
from services.metrics.domain.rows.checkpoints import CheckpointRow
from services.metrics.domain.rows.complaint import ComplaintRow
from services.metrics.domain.rows.document import DocumentRow
from services.metrics.domain.rows.dossier import DossierRow
from services.metrics.domain.rows.envelope import EventRow
from services.metrics.domain.rows.objective import ObjectiveRow
from services.metrics.domain.rows.procedure import ProcedureRow
from services.metrics.domain.rows.satisfaction import SatisfactionRow
from services.metrics.domain.rows.tables import INSERT_ORDER, TABLE_COLUMNS, TABLE_ROWS
from services.metrics.domain.rows.values import REPORTING_TZ, RecordRefused, local_day

__all__ = [
    "INSERT_ORDER",
    "REPORTING_TZ",
    "TABLE_COLUMNS",
    "TABLE_ROWS",
    "AuditRow",
    "Batch",
    "CapaRow",
    "CheckpointRow",
    "ComplaintRow",
    "DocumentRow",
    "DossierRow",
    "EventRow",
    "Mapped",
    "MappedRows",
    "Mapper",
    "ObjectiveRow",
    "ProcedureRow",
    "RecordRefused",
    "Refusal",
    "Rejected",
    "Row",
    "SatisfactionRow",
    "local_day",
    "map_record",
    "map_values",
    "rows_of",
]
