"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from services.common.service_metrics import exposition
from services.intake.adapters.kafka_log import kafka_ready
from services.intake.entrypoints.models import PROBLEM_RESPONSES
from services.intake.entrypoints.problems import ProblemError
from services.intake.entrypoints.runtime import Runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: PROBLEM_RESPONSES[503]})
async def readyz(runtime: Runtime) -> dict[str, str | int]:
    """Readiness: the producer runs, the idempotency window is loaded, Kafka answers metadata."""
    if runtime.service is None or runtime.producer is None:
        raise ProblemError(503, "not-ready", runtime.not_ready or "starting", reason="not_ready")
    problem = await kafka_ready(runtime.producer, runtime.topics, timeout_s=3.0)
    if problem is not None:
        raise ProblemError(503, "kafka-unreachable", problem, reason="not_ready")
    return {"status": "ready", "dedup_window_entries": len(runtime.index)}


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: Runtime) -> Response:
    """Prometheus exposition."""
    runtime.metrics.dedup_entries.set(len(runtime.index))
    body, content_type = exposition(runtime.metrics.registry)
    return Response(body, media_type=content_type)
