"""RFC 9457 problem details: every error intake returns, as application/problem+json.

The shape is the platform's (services.common.problems); intake adds its field errors of
batch items and counts each refusal by reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request

from schemas import FieldError
from services.common import problems as common
from services.common.problems import (
    PROBLEM_CONTENT_TYPE,
    TITLES,
    Problem,
    ProblemError,
    ProblemItem,
    problem_body,
    problem_response,
    problem_type,
)

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "TITLES",
    "Problem",
    "ProblemError",
    "ProblemItem",
    "field_error_items",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
    "problem_type",
]


def field_error_items(
    errors: Iterable[FieldError], index: int | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"field": e.field, "reason": e.reason} for e in errors]
    if index is not None:
        items = [{"index": index, **item} for item in items]
    return items


def _count_refusal(request: Request, exc: ProblemError) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.requests_rejected.labels(reason=exc.reason, status=str(exc.status)).inc()


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, ours or the framework's, a problem document; count refusals."""
    common.install_problem_handlers(app, on_refusal=_count_refusal)
