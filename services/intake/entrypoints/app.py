"""The intake FastAPI app: `create_app(settings)` wires settings, adapters and routes."""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import multiprocessing
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import timedelta

import structlog
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI

from schemas.catalogue import FAMILY_TOPICS, PUBLISHED_FAMILIES
from services.common.kafka_security import access_error, aiokafka_security
from services.common.logs import configure_logging
from services.common.settings import LogFormat
from services.common.tracing import Tracing, configure_tracing
from services.intake.adapters.acceptance_replay import replay_acceptances
from services.intake.adapters.acceptance_tail import AcceptanceTail
from services.intake.adapters.kafka_log import KafkaEventLog, make_producer, partitions_of
from services.intake.adapters.oidc import OidcAuthenticator
from services.intake.adapters.publisher_registry import load_registry
from services.intake.config import IntakeSettings
from services.intake.domain.idempotency import AcceptanceIndex
from services.intake.domain.rate_limit import RateLimiter
from services.intake.entrypoints import events_routes, ops_routes
from services.intake.entrypoints.observability import (
    IntakeMetrics,
    RequestContextMiddleware,
)
from services.intake.entrypoints.openapi import install_openapi
from services.intake.entrypoints.problems import install_problem_handlers
from services.intake.entrypoints.runtime import IntakeRuntime
from services.intake.service_layer.admission import warm_up
from services.intake.service_layer.publishing import PublishingService

log = structlog.get_logger("qms.intake")

# Written by the audit-trail (ledger) engineer; included when present.
AUDIT_ROUTES_MODULE = "services.intake.entrypoints.audit_routes"


def create_app(settings: IntakeSettings | None = None, tracing: Tracing | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts (publishers are read now).

    `tracing` defaults to what QMS_OTLP_TRACES_ENDPOINT says (off when unset)."""
    settings = settings or IntakeSettings()
    configure_logging(settings.log_level, json=settings.log_format is LogFormat.JSON)
    metrics = IntakeMetrics()
    runtime = IntakeRuntime(
        settings=settings,
        registry=load_registry(settings),  # fails fast on bad or development-only credentials
        metrics=metrics,
        limiter=RateLimiter(settings.rate_limit_events_per_second, settings.rate_limit_burst),
        index=AcceptanceIndex(
            timedelta(hours=settings.dedup_window_hours), settings.dedup_max_entries
        ),
        topics=[settings.topic(FAMILY_TOPICS[f]) for f in PUBLISHED_FAMILIES],
    )
    runtime.authenticators = _oidc_authenticators(settings)
    runtime.tracing = tracing or configure_tracing("qms-intake", settings.otlp_traces_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _audit_trail_lifespan(app), _publishing_lifespan(app):
            yield

    @asynccontextmanager
    async def _publishing_lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = make_producer(settings)
        try:
            await producer.start()
        except KafkaConnectionError as exc:  # wrong password, CA or listener: one line
            raise access_error(settings, exc) from None
        tail: AcceptanceTail | None = None
        try:
            partitions = await partitions_of(producer, runtime.topics)
            if settings.shared_window:
                # One of several replicas: the window is every replica's, read on from the log.
                tail = AcceptanceTail(
                    settings.kafka_bootstrap_servers,
                    partitions,
                    runtime.index,
                    wait_s=settings.shared_window_wait_ms / 1000,
                    security=aiokafka_security(settings),
                )
                read = await tail.start(settings.clock.now())
            else:
                # The idempotency window outlives restarts: read it back from the topics.
                read = await replay_acceptances(
                    settings.kafka_bootstrap_servers,
                    partitions,
                    runtime.index,
                    settings.clock.now(),
                    security=aiokafka_security(settings),
                )
            runtime.producer = producer
            pool = await _admission_pool(settings.admission_workers)
            runtime.service = PublishingService(
                KafkaEventLog(producer, settings.producer_request_timeout_ms / 1000),
                runtime.index,
                topic_prefix=settings.topic_prefix,
                max_future_skew=timedelta(seconds=settings.future_skew_seconds),
                clock=settings.clock.now,  # QMS_NOW: receipt stamp and the future-time check
                executor=pool,
                feed=tail,
            )
            warm_up()  # the validators, before the first request pays for them
            runtime.not_ready = None
            tune_garbage_collector(settings.gc_gen0_threshold)
            log.info(
                "intake started",
                replayed_records=read,
                dedup_window_entries=len(runtime.index),
                publishers=runtime.registry.names(),
            )
            yield
        finally:
            restore_garbage_collector()
            if runtime.service is not None and runtime.service.executor is not None:
                executor = runtime.service.executor
                await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
            runtime.service = None
            runtime.not_ready = "stopping"
            if tail is not None:
                await tail.stop()
            await producer.stop()
            for authenticator in runtime.authenticators:
                await authenticator.aclose()
            runtime.tracing.shutdown()

    app = FastAPI(
        title="QMS Trail intake",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.intake = runtime
    app.state.metrics = metrics
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.include_router(events_routes.router)
    app.include_router(ops_routes.router)
    _include_audit_routes(app)
    install_openapi(app, settings.max_batch_events)
    return app


async def _admission_pool(workers: int) -> ProcessPoolExecutor | None:
    """Worker processes for batch admission, started and warmed before traffic."""
    if workers == 0:
        return None
    # spawn, not fork: the parent runs an event loop and a Kafka client.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, warm_up) for _ in range(workers)))
    return pool


_DEFAULT_GC_THRESHOLD = gc.get_threshold()


def tune_garbage_collector(gen0_threshold: int) -> None:
    """Collect less often, and never re-scan what start-up built (settings, the window)."""
    if gen0_threshold > 0:
        gc.set_threshold(gen0_threshold, 50, 100)
    gc.freeze()


def restore_garbage_collector() -> None:
    gc.unfreeze()
    gc.set_threshold(*_DEFAULT_GC_THRESHOLD)


def _audit_trail_lifespan(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """The audit module's subject index (tailed in the background), when the module exists."""
    if importlib.util.find_spec(AUDIT_ROUTES_MODULE) is None:
        return nullcontext()
    trail_lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]
    trail_lifespan = importlib.import_module(AUDIT_ROUTES_MODULE).trail_lifespan
    return trail_lifespan(app)


def _include_audit_routes(app: FastAPI) -> None:
    """GET /v1/audit/... from the ledger engineer's module, when it exists."""
    if importlib.util.find_spec(AUDIT_ROUTES_MODULE) is not None:
        app.include_router(importlib.import_module(AUDIT_ROUTES_MODULE).router)


def _oidc_authenticators(settings: IntakeSettings) -> list[OidcAuthenticator]:
    """OIDC access tokens as a second way in, when a JWKS is configured."""
    return [OidcAuthenticator.from_settings(settings)] if settings.oidc_jwks_url else []
