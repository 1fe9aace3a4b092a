"""Prometheus metrics, structured logs and the request id that ties them together."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

log = structlog.get_logger("qms.intake")


class IntakeMetrics:
    """The intake's own registry, so two apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "qms_intake_events_accepted",
            "Events appended to Kafka.",
            ["family"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "qms_intake_events_duplicate",
            "Events recognised as already accepted.",
            ["family"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "qms_intake_events_rejected",
            "Events refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.requests_rejected = Counter(
            "qms_intake_requests_rejected",
            "Whole requests refused before any event was looked at (401, 413, 415, 429...).",
            ["reason", "status"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "qms_intake_publish_seconds",
            "From handing a request's events to the producer to the last acknowledgement.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "qms_intake_request_seconds",
            "HTTP request duration.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.dedup_entries = Gauge(
            "qms_intake_dedup_window_entries",
            "Acceptances held in the idempotency window.",
            registry=self.registry,
        )


class RequestContextMiddleware:
    """X-Request-ID in and out, bound to every log line; one access log line per request."""

    def __init__(self, app: ASGIApp, metrics: IntakeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                elapsed
            )
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = str(value.decode("latin-1"))
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    # The template, not the path: keeps the label set small.
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
