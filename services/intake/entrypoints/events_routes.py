"""POST /v1/events and /v1/events/batch: the publishing API."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic_core import to_json

from services.common.tracing import TRACEPARENT
from services.intake.domain.publishers import Publisher
from services.intake.entrypoints.auth import CurrentPublisher
from services.intake.entrypoints.bodies import read_batch_body, read_single_event
from services.intake.entrypoints.models import PROBLEM_RESPONSES, AcceptanceView, BatchResult
from services.intake.entrypoints.problems import ProblemError, field_error_items, problem_body
from services.intake.entrypoints.runtime import IntakeRuntime, Runtime
from services.intake.service_layer.publishing import Accepted, Outcome, Refused

router = APIRouter(prefix="/v1", tags=["events"])

SLUGS = {
    "invalid": "invalid-event",
    "forbidden": "forbidden-scope",
    "future_time": "event-time-in-future",
    "conflict": "id-conflict",
    "unavailable": "log-unavailable",
}
DETAILS = {
    "invalid": "the event does not match its contract",
    "forbidden": "the publisher may not publish this event",
    "future_time": "the event's time or recorded time is too far ahead of intake's clock",
    "conflict": "an event with this source and id was accepted before with other content",
    "unavailable": "Kafka did not acknowledge the event",
}


@router.post(
    "/events",
    status_code=202,
    summary="Publish one event",
    responses={
        202: {"model": AcceptanceView, "description": "Appended and acknowledged by Kafka."},
        200: {"model": AcceptanceView, "description": "Already accepted: the original acceptance."},
        **PROBLEM_RESPONSES,
    },
)
async def publish_event(
    request: Request, publisher: CurrentPublisher, runtime: Runtime
) -> Response:
    """Publish one CloudEvent (structured JSON, or binary mode with ce-* headers)."""
    raw = await read_single_event(request, runtime.settings.max_event_bytes)
    runtime.charge(publisher, 1)
    service = runtime.publishing()
    with runtime.tracing.span(
        "intake publish", parent=request.headers.get(TRACEPARENT), attributes={"qms.events": 1}
    ) as traceparent:
        outcomes = await _timed(runtime, service.publish([raw], publisher, traceparent))
    _count(runtime, outcomes)
    outcome = outcomes[0]
    if isinstance(outcome, Refused):
        raise ProblemError(
            outcome.status,
            SLUGS[outcome.reason],
            DETAILS[outcome.reason],
            field_error_items(outcome.errors),
            headers={"Retry-After": "1"} if outcome.status == 503 else None,
            reason=outcome.reason,
        )
    body = outcome.acceptance.as_json(duplicate=outcome.duplicate)
    return _json(body, 200 if outcome.duplicate else 202)


@router.post(
    "/events/batch",
    summary="Publish a batch of events",
    responses={
        200: {"model": BatchResult, "description": "One result per event."},
        **PROBLEM_RESPONSES,
    },
)
async def publish_batch(
    request: Request,
    publisher: CurrentPublisher,
    runtime: Runtime,
    atomic: Annotated[
        bool,
        Query(
            description="All-or-nothing: any refused event refuses the whole batch "
            "(422, or 403 / 409 when every refusal is a scope refusal / an id conflict)."
        ),
    ] = False,
) -> Response:
    """Publish up to `max_batch_events` structured events; a result per event (index order)."""
    body = await read_batch_body(request, runtime.settings.max_batch_bytes)
    with runtime.tracing.span(
        "intake publish batch", parent=request.headers.get(TRACEPARENT)
    ) as traceparent:
        return await _publish_batch(runtime, publisher, body, atomic, traceparent)


async def _publish_batch(
    runtime: IntakeRuntime,
    publisher: Publisher,
    body: bytes,
    atomic: bool,
    traceparent: str | None,
) -> Response:
    service = runtime.publishing()
    admitted = await service.admit_body(
        body, publisher, runtime.settings.max_batch_events, traceparent
    )
    if admitted.problem is not None:
        problem = admitted.problem
        raise ProblemError(
            problem.status,
            problem.slug,
            problem.detail,
            [{"field": field, "reason": why} for field, why in problem.errors],
            reason=problem.reason,
        )
    admissions = admitted.admissions
    runtime.charge(publisher, len(admissions))
    if atomic:
        refused = [(i, a) for i, a in enumerate(admissions) if isinstance(a, Refused)]
        refused += service.conflicts(admissions)
        if refused:
            _count(runtime, [a for _, a in refused])
            _refuse_whole_batch(refused, len(admissions))
    outcomes = await _timed(runtime, service.append(admissions))
    _count(runtime, outcomes)
    return _json(_batch_body(outcomes), 200)


def _refuse_whole_batch(refused: Sequence[tuple[int, Refused]], size: int) -> None:
    # One kind of refusal keeps its status (403 scope, 409 id conflict); a mixture is 422.
    statuses = {r.status for _, r in refused}
    status = next(iter(statuses)) if len(statuses) == 1 and statuses <= {403, 409} else 422
    in_order = sorted(refused, key=lambda item: item[0])
    errors = [item for index, r in in_order for item in field_error_items(r.errors, index)]
    raise ProblemError(
        status,
        "batch-refused",
        f"{len(refused)} of {size} events refused; atomic batch: nothing was published",
        errors,
        reason="atomic_batch_refused",
    )


def _batch_body(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    tally = Counter[str]()
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Accepted):
            status = "duplicate" if outcome.duplicate else "accepted"
            a = outcome.acceptance
            results.append(
                {
                    "index": index,
                    "id": a.id,
                    "status": status,
                    "topic": a.topic,
                    "partition": a.partition,
                    "offset": a.offset,
                }
            )
        else:
            status = "rejected"
            problem = problem_body(
                outcome.status,
                SLUGS[outcome.reason],
                DETAILS[outcome.reason],
                field_error_items(outcome.errors, index),
            )
            results.append({"index": index, "id": outcome.id, "status": status, "problem": problem})
        tally[status] += 1
    return {
        "accepted": tally["accepted"],
        "duplicates": tally["duplicate"],
        "rejected": tally["rejected"],
        "results": results,
    }


async def _timed(runtime: IntakeRuntime, work: Any) -> list[Outcome]:
    started = time.perf_counter()
    outcomes: list[Outcome] = await work
    runtime.metrics.publish_seconds.observe(time.perf_counter() - started)
    return outcomes


def _count(runtime: IntakeRuntime, outcomes: Sequence[Outcome]) -> None:
    accepted, duplicates, rejected = Counter[str](), Counter[str](), Counter[str]()
    for outcome in outcomes:
        if isinstance(outcome, Refused):
            rejected[outcome.reason] += 1
        elif outcome.duplicate:
            duplicates[outcome.family] += 1
        else:
            accepted[outcome.family] += 1
    metrics = runtime.metrics
    for family, n in accepted.items():
        metrics.accepted.labels(family=family).inc(n)
    for family, n in duplicates.items():
        metrics.duplicates.labels(family=family).inc(n)
    for reason, n in rejected.items():
        metrics.rejected.labels(reason=reason).inc(n)


def _json(body: Any, status: int) -> Response:
    return Response(content=to_json(body), status_code=status, media_type="application/json")
