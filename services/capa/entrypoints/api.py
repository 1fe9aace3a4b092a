"""The CAPA HTTP API and the faust worker in one process (`create_app`).

faust runs on uvicorn's loop, started and stopped by the FastAPI lifespan
(`faust.contrib.asgi.faust_app_running`): serve it with ONE uvicorn worker and no --reload.
Stopping is bounded (`QMS_CAPA_STOP_TIMEOUT_S`): nothing is lost by cutting the worker's stop
short, offsets are committed only after the writes they cover.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from faust.contrib.asgi import faust_app_running

from services.capa.adapters.auth import load_users
from services.capa.adapters.forwarding import CommandForwarder
from services.capa.config import CapaSettings
from services.capa.entrypoints import routes_commands, routes_read, routes_stats, routing
from services.capa.entrypoints.deps import Streams
from services.capa.entrypoints.problems import READY_RESPONSES, RETRY_AFTER_S
from services.capa.entrypoints.worker import build_streams
from services.common.kafka_security import aiokafka_security
from services.common.problems import install_problem_handlers
from services.common.service_metrics import exposition
from services.common.topics import ensure_topics, load_topic_specs
from services.common.tracing import configure_tracing

log = logging.getLogger(__name__)


def create_app(settings: CapaSettings | None = None) -> FastAPI:
    """Build the API and its faust worker; nothing connects until the lifespan starts."""
    settings = settings or CapaSettings()
    users = load_users(settings.users_file, settings.environment)
    tracing = configure_tracing("qms-capa", settings.otlp_traces_endpoint)
    streams = build_streams(settings, tracing)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        # Topics exist before the worker subscribes (faust would create them wrongly).
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            load_topic_specs(prefix=settings.topic_prefix),
            security=aiokafka_security(settings),
        )
        forwarder = CommandForwarder(
            streams.commands.replies.instance_id, settings.command_timeout_s
        )
        api.state.forwarder = forwarder
        try:
            async with faust_app_running(streams.app, stop_timeout=settings.stop_timeout_s / 2):
                yield
                streams.commands.replies.fail_all("the CAPA worker is stopping")
        except TimeoutError:  # the broker is unreachable, say: stop anyway, nothing is lost
            log.warning("the faust worker did not stop in %.1f s", settings.stop_timeout_s / 2)
        finally:
            await forwarder.aclose()
            tracing.shutdown()

    api = FastAPI(
        title="QMS Trail CAPA service",
        version="1",
        description="Corrective actions (ISO 9001:2015 §10.2), event-sourced on Kafka.",
        lifespan=lifespan,
    )
    api.state.streams = streams
    api.state.users = users
    api.state.settings = settings
    install_problem_handlers(api)
    api.add_exception_handler(routing.RelayedAnswer, routing.handle_relayed)
    api.include_router(routes_read.router)
    api.include_router(routes_read.internal_router)
    api.include_router(routes_commands.router)
    api.include_router(routes_stats.router)

    # /healthz and /readyz like the other services; /health and /ready kept as aliases.
    @api.get("/healthz", tags=["ops"])
    @api.get("/health", tags=["ops"], include_in_schema=False)
    def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @api.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus exposition: consumer lag, dead letters, commands by outcome, process."""
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    @api.get("/readyz", tags=["ops"], response_model=None, responses=READY_RESPONSES)
    @api.get("/ready", tags=["ops"], response_model=None, include_in_schema=False)
    async def ready(streams: Streams) -> Any:
        """A probe command went through this worker's command agent on every partition it owns."""
        not_ready = await streams.probe()
        if not_ready is None:
            return {"status": "ready"}
        return JSONResponse(
            {"status": "not_ready", "detail": not_ready},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    return api
