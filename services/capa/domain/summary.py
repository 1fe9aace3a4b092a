"""Counts over many CAPAs: what the run summary and the leaders' dashboard show."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

from services.capa.domain.state import CapaState
from services.capa.domain.transitions import Status


def summarise(states: Iterable[CapaState], today: date) -> dict[str, Any]:
    """Opened, closed, cancelled, overdue and recurring CAPAs, by status and by source."""
    by_status: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    overdue = recurring = escalated = 0
    for state in states:
        by_status[state.status.value] += 1
        by_source[state.source.value] += 1
        overdue += state.is_overdue(today)
        recurring += bool(state.recurrence_of)
        escalated += bool(state.escalated_due_dates)
    return {
        "opened": sum(by_status.values()),
        "open": sum(n for s, n in by_status.items() if s not in _FINISHED),
        "closed": by_status[Status.CLOSED.value],
        "cancelled": by_status[Status.CANCELLED.value],
        "overdue": overdue,
        "escalated": escalated,
        "recurring": recurring,
        "by_status": dict(sorted(by_status.items())),
        "by_source": dict(sorted(by_source.items())),
    }


_FINISHED = {Status.CLOSED.value, Status.CANCELLED.value}


def merge_summaries(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The summary of CAPAs held in several places (one `summarise` each, disjoint sets)."""
    merged: dict[str, Any] = {key: 0 for key in _COUNTS}
    by_status: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for part in parts:
        for key in _COUNTS:
            merged[key] += int(part[key])
        by_status.update(part["by_status"])
        by_source.update(part["by_source"])
    merged["by_status"] = dict(sorted(by_status.items()))
    merged["by_source"] = dict(sorted(by_source.items()))
    return merged


_COUNTS = ("opened", "open", "closed", "cancelled", "overdue", "escalated", "recurring")
