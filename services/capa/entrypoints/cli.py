"""`qms capa …`: serve the CAPA service, and walk open CAPAs to closure for demos."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
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
    verifier_id: Annotated[
        str, typer.Option(help="The verifier token's user, signing with its development key.")
    ] = "auditor-0009",
    closer_id: Annotated[
        str, typer.Option(help="The closer token's user, signing with its development key.")
    ] = "secretary-01",
) -> None:
    """Walk a share of the open CAPAs to closure, as a scripted owner and verifier would
    (development signers only: their keys are the published ones of deploy/users.dev.yaml)."""
    from services.capa.entrypoints.scripted_closure import ClosureTokens, close_some, dev_signers

    tokens = ClosureTokens(owner=owner_token, verifier=verifier_token, closer=closer_token)
    signers = dev_signers(verifier_id, closer_id)
    outcome = close_some(url, tokens, signers, fraction=fraction, limit=limit)
    typer.echo(json.dumps(outcome.as_dict(), indent=2))


@app.command()
def sign(
    capa_id: Annotated[str, typer.Option(help="The CAPA decided on.")],
    state_hash: Annotated[
        str, typer.Option(help="`capa.state_hash` of GET /v1/capas/{id}, the state decided on.")
    ],
    decision: Annotated[str, typer.Option(help="verification, closure or cancellation.")],
    body: Annotated[str, typer.Option(help="The request body, JSON (without `signature`).")],
    signer: Annotated[str, typer.Option(help="Your user id (the token's user).")],
    key_file: Annotated[
        Path | None, typer.Option(help="Your Ed25519 private key, PKCS#8 PEM.")
    ] = None,
    dev_key: Annotated[
        bool, typer.Option(help="Sign with the signer's published development key.")
    ] = False,
    signed_at: Annotated[
        str | None, typer.Option(help="RFC 3339 signing time (default: now).")
    ] = None,
) -> None:
    """Print the request body with your electronic signature over the decision, to POST."""
    from services.capa.adapters.signing import ROUTE_COMMANDS, DecisionSigner

    if decision not in ROUTE_COMMANDS:
        raise typer.BadParameter(f"one of {', '.join(ROUTE_COMMANDS)}", param_hint="--decision")
    if (key_file is None) == (not dev_key):
        raise typer.BadParameter("give --key-file or --dev-key", param_hint="--key-file")
    person = DecisionSigner.from_pem(signer, key_file) if key_file else DecisionSigner.dev(signer)
    moment = datetime.fromisoformat(signed_at) if signed_at else datetime.now(UTC)
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone (e.g. Z)", param_hint="--signed-at")
    capa = {"capa_id": capa_id, "state_hash": state_hash}
    signed = person.sign_body(capa, decision, json.loads(body), moment)
    typer.echo(json.dumps(signed, indent=2, ensure_ascii=False))


@app.command("verify-signatures")
def verify_signatures(
    history_file: Annotated[
        Path, typer.Option(help="GET /v1/capas/{id} output, or a JSON list of its events.")
    ],
    users_file: Annotated[
        Path, typer.Option(help="The users file holding the signers' `signing_key`.")
    ],
    production: Annotated[
        bool, typer.Option(help="Refuse the published development keys.")
    ] = False,
) -> None:
    """Replay a CAPA's history and check every decision's signature offline (exit 1 on any
    failure, naming the event, the field and why)."""
    from schemas.catalogue import parse_event
    from services.capa.adapters.signing import load_signing_keys
    from services.capa.domain.signature_audit import check_signatures
    from services.common.settings import Environment

    document = json.loads(history_file.read_text(encoding="utf-8"))
    raw_events = document["history"] if isinstance(document, dict) else document
    environment = Environment.PRODUCTION if production else Environment.DEVELOPMENT
    keys = load_signing_keys(users_file, environment)
    events = []
    for position, raw in enumerate(raw_events):
        try:
            events.append(parse_event(raw))
        except ValueError as exc:  # a contract violation is a mutation too: name the event
            typer.echo(
                json.dumps({"ok": False, "field": f"history[{position}]", "reason": str(exc)})
            )
            raise typer.Exit(1) from exc
    checks = check_signatures(events, keys)
    report = {
        "signatures": len(checks),
        "ok": all(c.ok for c in checks),
        "checks": [c.as_dict() for c in checks],
    }
    typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["ok"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
