"""Measured nonconformities: what only the whole store can judge, and the CAPA it opens.

A dossier received under a repealed procedure or with a due date beyond the law cannot be
judged from its own event: the register and the calendar decide, and the register may
arrive after the dossier. So the metrics service, which holds everything, lists such
nonconformities in a view and asks the CAPA service to open or link a CAPA for each, one
per agency × key × month (the way late dossiers are grouped). Adding a measured
nonconformity is one entry below: its view lists `agency`, the key (a procedure, a process
document), `month` (a Date, the first of the month), the subject (one occurrence), `time`
(when it happened) and `reason`.

The commands are deterministic: the CAPA id comes from (source kind, agency, key, month) and
each occurrence is a reference made of (source kind, subject), so the same row checked
twice, by one checker or by two, opens the CAPA once and links each occurrence once (the
CAPA service recognises a reference it holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from schemas.capa import NonconformitySource, Severity, SourceReference
from services.capa.domain.commands import OpenCapa
from services.capa.domain.policies import (
    POLICY_ACTOR,
    DueDatePolicy,
    capa_id_for,
    default_owner,
)
from services.capa.domain.state import local_date
from services.capa.domain.transitions import Role
from services.metrics.domain.kpi_catalogue import LOCAL_TIME_ZONE

# The CloudEvents-like source of a measured occurrence's reference.
MEASURED_SOURCE = "urn:qms:metrics:measured-nonconformities"
_TEXT_LIMIT = 4000


@dataclass(frozen=True, slots=True)
class MeasuredNonconformity:
    """One kind of measured nonconformity: the view listing it and the CAPA it opens."""

    source: NonconformitySource  # the CAPA's source kind
    view: str
    title: str
    iso_clause: str
    severity: Severity = Severity.MINOR
    key_column: str = "procedure"
    subject_column: str = "dossier"
    time_column: str = "time"
    reason_column: str = "reason"
    # SQL counting what judges it: nothing is judged while it counts 0 (an empty register
    # would make every dossier "unknown").
    judged_once: str | None = None

    def rows_sql(self) -> str:
        """Its occurrences, in the order their commands are sent (the first opens the CAPA)."""
        return (
            f"SELECT agency, {self.key_column} AS key, formatDateTime(month, '%Y-%m') AS month, "
            f"{self.subject_column} AS subject, {self.time_column} AS time, "
            f"{self.reason_column} AS reason FROM {self.view} "
            f"ORDER BY agency, key, month, time, subject"
        )

    def capa_id(self, agency: str, key: str, month: str) -> str:
        """The CAPA of one agency, key and month (`2026-03`), as `late_dossier_capa_id` is."""
        return capa_id_for(self.source, agency, key, month)


PROCEDURE_NOT_IN_FORCE = MeasuredNonconformity(
    source=NonconformitySource.PROCEDURE_NOT_IN_FORCE,
    view="procedure_nonconforming_dossiers",
    title="Dossiers received under a procedure not in force (unknown, repealed or outdated)",
    iso_clause="8.5.1",  # control of service provision: the procedure in force applies
    judged_once="SELECT count() AS judging FROM procedure_events",
)
EXTENDED_DUE_DATES = MeasuredNonconformity(
    source=NonconformitySource.EXTENDED_DUE_DATES,
    view="extended_due_dossiers",
    title="Due dates extended beyond the statutory time hide lateness",
    iso_clause="8.5.1",
)
# One process document not revised for one amended version (docs/kpis.md, "Document
# control"): its own CAPA, in the month of its first overdue day.
_PROCESS_AND_VERSION = "concat(document, '|', procedure, '|v', toString(version))"
PROCESS_NOT_REVISED = MeasuredNonconformity(
    source=NonconformitySource.PROCESS_NOT_REVISED,
    view="process_revisions_overdue_settled",
    title="ISO process document not revised after the procedure it implements was amended",
    iso_clause="7.5.2",  # creating and updating documented information
    key_column=_PROCESS_AND_VERSION,
    subject_column=_PROCESS_AND_VERSION,
    # The first overdue day, 00:00 in Vietnam.
    time_column=f"toDateTime64(toDateTime(addDays(due_on, 1), '{LOCAL_TIME_ZONE}'), 3, 'UTC')",
    reason_column=(
        "concat('not revised for ', procedure, ' v', toString(version), "
        "' by ', toString(due_on), if(revised_on IS NULL, '', "
        "concat(' (revised ', toString(revised_on), ')')))"
    ),
)
MEASURED_NONCONFORMITIES: tuple[MeasuredNonconformity, ...] = (
    PROCEDURE_NOT_IN_FORCE,
    EXTENDED_DUE_DATES,
    PROCESS_NOT_REVISED,
)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One row of a measured nonconformity's view."""

    agency: str
    key: str
    month: str
    subject: str
    time: datetime
    reason: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Occurrence:
        happened = row["time"]
        if happened.tzinfo is None:  # DateTime64(3, 'UTC') comes back naive from chDB
            happened = happened.replace(tzinfo=UTC)
        return cls(
            str(row["agency"]),
            str(row["key"]),
            str(row["month"]),
            str(row["subject"]),
            happened,
            str(row["reason"]),
        )


def open_command(
    kind: MeasuredNonconformity, occurrence: Occurrence, policy: DueDatePolicy
) -> OpenCapa:
    """Open the group's CAPA, or link this occurrence to it (the CAPA service decides)."""
    o = occurrence
    noticed: date = local_date(o.time)
    correction_due, closure_due = policy.due_dates(kind.severity, noticed)
    return OpenCapa(
        capa_id=kind.capa_id(o.agency, o.key, o.month),
        actor_id=POLICY_ACTOR,
        actor_role=Role.SYSTEM,
        at=o.time,
        reason=f"measured: {kind.source.value} in {kind.view}: {o.subject}"[:_TEXT_LIMIT],
        source=kind.source,
        reference=SourceReference(
            source=MEASURED_SOURCE, id=f"{kind.source.value}:{o.subject}"[:128], subject=o.subject
        ),
        agency=o.agency,
        process=o.key[:200],
        severity=kind.severity,
        description=(
            f"{kind.title}: {o.key} in {o.month} (first: {o.subject}, {o.reason})"[:_TEXT_LIMIT]
        ),
        owner_id=default_owner(o.agency),
        correction_due_on=correction_due,
        closure_due_on=closure_due,
        procedure_code=o.key if kind.key_column == "procedure" else None,
        iso_clause=kind.iso_clause,
        period=o.month,
    )
