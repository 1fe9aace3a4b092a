"""The ground truth of document control: a plain fold of the document and register events.

Written from docs/kpis.md ("Document control"), independently of the metrics SQL: each
event once per `(source, id)`, in any order; every rule takes the earliest or latest event
by `(time, id)`, never by arrival.

- documents issued: per agency (of the first `document.issued`) and local month of its
  `issued_on`; checked: with any `document.checked`; conforming: the first check conforms;
- an ISO process document not revised in time: a `procedure.amended` version (its latest
  event's `effective_from`) + `PROCESS_REVISION_DAYS` is the due day; a process document
  naming the procedure in an older version on or before it, with no event naming the new
  version (or later) on or before it, and not withdrawn by then, is overdue once the local
  day of the instant is past the due day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from schemas.document import (
    DocumentChecked,
    DocumentIssued,
    DocumentWithdrawn,
    ProcessDocumentPublished,
    ProcessDocumentRevised,
)
from schemas.envelope import CloudEvent
from schemas.procedure import ProcedureAmended
from services.demo.domain.calendar import local_day
from services.demo.domain.deliveries import once_each

# The allowed days, stated here again (the truth does not read the metrics catalogue).
PROCESS_REVISION_DAYS = 30
Months = tuple[str, str] | None
Order = tuple[datetime, str]  # (time, id): the order every rule reads


@dataclass
class DocumentTrail:
    issued: list[tuple[Order, str, date]] = field(default_factory=list)  # agency, issued_on
    checks: list[tuple[Order, bool]] = field(default_factory=list)


@dataclass
class ProcessTrail:
    # (order, agency, code, local day, procedure, version) per procedure named
    namings: list[tuple[Order, str, str, date, str, int]] = field(default_factory=list)
    withdrawn: list[tuple[datetime, date]] = field(default_factory=list)


@dataclass
class DocumentTruth:
    documents: dict[str, DocumentTrail] = field(default_factory=lambda: defaultdict(DocumentTrail))
    processes: dict[str, ProcessTrail] = field(default_factory=lambda: defaultdict(ProcessTrail))
    amendments: dict[tuple[str, int], list[tuple[Order, date]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, event: CloudEvent) -> None:
        order = (event.time, event.id)
        if isinstance(event, DocumentIssued):
            trail = self.documents[event.subject]
            trail.issued.append((order, event.agencycode, event.data.issued_on))
        elif isinstance(event, DocumentChecked):
            self.documents[event.subject].checks.append((order, event.data.conforming))
        elif isinstance(event, ProcessDocumentPublished | ProcessDocumentRevised):
            day = local_day(event.time)
            for basis in event.data.legal_basis_procedures:
                self.processes[event.subject].namings.append(
                    (order, event.agencycode, event.data.code, day, basis.procedure_code,
                     basis.version)
                )  # fmt: skip
        elif isinstance(event, DocumentWithdrawn):
            self.processes[event.subject].withdrawn.append((event.time, event.data.withdrawn_on))
        elif isinstance(event, ProcedureAmended):
            key = (event.data.procedure_code, event.data.version)
            self.amendments[key].append((order, event.data.effective_from))

    def document_counts(
        self, group: tuple[str, ...], months: Months = None
    ) -> dict[tuple[str, ...], dict[str, int]]:
        """issued, checked, conforming, nonconforming per `group` (of agency, month)."""
        out: dict[tuple[str, ...], dict[str, int]] = {}
        for trail in self.documents.values():
            if not trail.issued:
                continue
            _, agency, issued_on = min(trail.issued)
            month = f"{issued_on:%Y-%m}"
            if months is not None and not months[0] <= month <= months[1]:
                continue
            values = {"agency": agency, "month": month}
            counts = out.setdefault(
                tuple(values[g] for g in group),
                {"issued": 0, "checked": 0, "conforming": 0, "nonconforming": 0},
            )
            counts["issued"] += 1
            if trail.checks:
                counts["checked"] += 1
                conforming = min(trail.checks)[1]
                counts["conforming" if conforming else "nonconforming"] += 1
        return out

    def processes_overdue(self, at: datetime, known_now: bool = False) -> list[dict[str, Any]]:
        """The nonconformities as of `at`, sorted like the read API's rows."""
        at_day = local_day(at)

        def known(when: datetime) -> bool:
            return known_now or when <= at

        rows = []
        for (procedure, version), versions in self.amendments.items():
            effective = [v for v in versions if known(v[0][0])]
            if not effective:
                continue
            amended_on = max(effective)[1]
            due = amended_on + timedelta(days=PROCESS_REVISION_DAYS)
            if not due < at_day:
                continue
            for document, trail in self.processes.items():
                named = [n for n in trail.namings if n[4] == procedure and known(n[0][0])]
                if not named:
                    continue
                if not any(n[5] < version and n[3] <= due for n in named):
                    continue
                if any(n[5] >= version and n[3] <= due for n in named):
                    continue
                if any(known(t) and day <= due for t, day in trail.withdrawn):
                    continue
                later = [n[3] for n in named if n[5] >= version and n[3] <= at_day]
                revised = min(later) if later else None
                rows.append(
                    {
                        "agency": min(named)[1],
                        "document": document,
                        "process_code": max(named)[2],
                        "procedure": procedure,
                        "version": version,
                        "amended_on": amended_on.isoformat(),
                        "due_on": due.isoformat(),
                        "revised_on": revised.isoformat() if revised else None,
                        "days_overdue": ((revised or at_day) - due).days,
                        "month": f"{due + timedelta(days=1):%Y-%m}",
                    }
                )
        return sorted(
            rows, key=lambda r: (r["agency"], r["document"], r["procedure"], r["version"])
        )


def document_truth(events: Iterable[CloudEvent]) -> DocumentTruth:
    """Fold events (any order, duplicates allowed) into the document-control truth."""
    truth = DocumentTruth()
    for event in once_each(events):
        truth.add(event)
    return truth
