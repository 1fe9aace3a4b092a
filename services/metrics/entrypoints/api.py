"""The metrics read API, and (with `consume=True`) the metrics worker in the same process.

With the embedded engine only one process may open the data path, so this process is
the only reader and writer: every other process reads the KPIs over this API. Every route
that returns agency data needs a platform user's bearer token (entrypoints/deps.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from services.common.kafka_security import aiokafka_security
from services.common.problems import install_problem_handlers
from services.common.service_metrics import exposition
from services.common.topics import ensure_topics, load_topic_specs
from services.common.tracing import Tracing, configure_tracing
from services.common.users import load_user_directory
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import store_for
from services.metrics.adapters.effectiveness_reader import ClickHouseEffectivenessReader
from services.metrics.config import MetricsSettings
from services.metrics.entrypoints.consumer import MetricsWorker
from services.metrics.entrypoints.deps import READ_RESPONSES, Reader, Store, not_found
from services.metrics.entrypoints.kpi_routes import router as kpi_router
from services.metrics.entrypoints.sheet_routes import router as sheet_router

log = logging.getLogger(__name__)


def create_app(
    settings: MetricsSettings | None = None,
    *,
    consume: bool = True,
    tracing: Tracing | None = None,
) -> FastAPI:
    """The FastAPI app; `consume=False` serves the API without running the consumer.
    `tracing` defaults to what QMS_OTLP_TRACES_ENDPOINT says (off when unset)."""
    settings = settings or MetricsSettings()
    traces = tracing or configure_tracing("qms-metrics", settings.otlp_traces_endpoint)
    # Read now, so that a bad users file (or development tokens in production) stops start-up.
    users = load_user_directory(settings.users_file, settings.environment)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        store = store_for(settings)
        await asyncio.to_thread(partial(store.open, migrate=settings.migrate_on_start))
        api.state.store = store
        try:
            if consume:
                await ensure_topics(
                    settings.kafka_bootstrap_servers,
                    load_topic_specs(settings.topic_prefix),
                    security=aiokafka_security(settings),
                )
                reader = ClickHouseEffectivenessReader(store)
                worker = MetricsWorker(settings, store, traces, reader, nonconformities=store)
                api.state.ingestor = worker.ingestor
                async with worker.running():
                    yield
            else:
                yield
        finally:
            store.close()
            traces.shutdown()

    api = FastAPI(
        title="QMS Trail metrics",
        version="1",
        description="KPIs of ISO 9001 quality management per agency, procedure and period.",
        lifespan=lifespan,
    )
    api.state.settings = settings
    api.state.users = users
    install_problem_handlers(api)

    @api.get("/healthz")
    def healthz(store: Store) -> dict[str, Any]:
        """Liveness and store reachability."""
        store.query("SELECT 1")
        return {"status": "ok", "database": store.database}

    @api.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus exposition: consumer lag, batches, dead letters, process."""
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    @api.get("/v1/stats", responses={k: READ_RESPONSES[k] for k in (401, 404)})
    def stats(store: Store, reader: Reader) -> dict[str, Any]:
        """Distinct events stored (all, published by intake, per type and family).

        National readers only: the counters span every agency. Anyone else gets 404.
        """
        if not reader.scope.national:
            raise not_found("the platform-wide counters are for national readers")
        return kpi_queries.stats(store)

    api.include_router(kpi_router)
    api.include_router(sheet_router)
    return api
