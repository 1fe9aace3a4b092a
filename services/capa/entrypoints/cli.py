"""`qms capa …`: serve the CAPA service, and walk open CAPAs to closure for demos."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Corrective actions (CAPA service).")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (QMS_CAPA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QMS_CAPA_PORT, default 8082).")] = None,
) -> None:
    """Run the HTTP API and the faust worker in one process."""
    import uvicorn

    from services.capa.config import CapaSettings
    from services.capa.entrypoints.api import create_app
    from services.common.logs import bind_process, configure_logging
    from services.common.settings import LogFormat
    from services.common.shutdown import StopDeadline, StoppingServer

    options: dict[str, Any] = {}
    if host is not None:
        options["host"] = host
    if port is not None:
        options["port"] = port
    settings = CapaSettings(**options)  # validated again: the advertised URL follows the port
    configure_logging(settings.log_level, json=settings.log_format is LogFormat.JSON)
    bind_process(service="capa", consumer=settings.app_id)
    api = create_app(settings)
    config = uvicorn.Config(
        api,
        host=settings.host,
        port=settings.port,
        loop="asyncio",
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's records go through structlog (services/common/logs.py)
        # Half of the stop budget for requests in flight, half for the worker (api.py).
        timeout_graceful_shutdown=max(1, round(settings.stop_timeout_s / 2)),
    )
    streams = api.state.streams
    StoppingServer(
        config,
        StopDeadline(settings.stop_timeout_s, "CAPA worker"),
        on_stop=lambda: streams.commands.replies.fail_all("the CAPA worker is stopping"),
    ).run()


@app.command("close-demo")
def close_demo(
    url: Annotated[str, typer.Option(help="CAPA API base URL.")] = "http://127.0.0.1:8082",
    fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of open CAPAs.")] = 0.5,
    limit: Annotated[int, typer.Option(min=1, help="At most this many CAPAs.")] = 200,
    owner_token: Annotated[str, typer.Option(envvar="QMS_CAPA_OWNER_TOKEN")] = (
        "dev-capa-owner-all-token"
    ),
    verifier_token: Annotated[str, typer.Option(envvar="QMS_CAPA_VERIFIER_TOKEN")] = (
        "dev-auditor-token"
    ),
    closer_token: Annotated[str, typer.Option(envvar="QMS_CAPA_CLOSER_TOKEN")] = (
        "dev-iso-secretary-token"
    ),
) -> None:
    """Walk a share of the open CAPAs to closure, as a scripted owner and verifier would."""
    from services.capa.entrypoints.scripted_closure import ClosureTokens, close_some

    tokens = ClosureTokens(owner=owner_token, verifier=verifier_token, closer=closer_token)
    outcome = close_some(url, tokens, fraction=fraction, limit=limit)
    typer.echo(json.dumps(outcome.as_dict(), indent=2))


if __name__ == "__main__":
    app()
