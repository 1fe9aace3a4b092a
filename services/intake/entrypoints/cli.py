"""`qms intake serve` and the `qms audit` command group."""

from __future__ import annotations

import typer

from services.intake.ledger.cli import register_audit_commands

app = typer.Typer(no_args_is_help=True, help="The publishing API (intake service).")

# `qms audit ...`: left empty here on purpose; the ledger (audit-trail) module adds its
# commands (`verify`, ...) through register_audit_commands below.
audit_app = typer.Typer(no_args_is_help=True, help="Verify the tamper-evident audit trail.")
register_audit_commands(audit_app)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="QMS_INTAKE_HOST", help="Interface."),
    port: int = typer.Option(8081, envvar="QMS_INTAKE_PORT", help="TCP port."),
) -> None:
    """Run the intake HTTP API with uvicorn (several processes: QMS_INTAKE_SHARED_WINDOW=true)."""
    import uvicorn

    from services.intake.config import IntakeSettings
    from services.intake.entrypoints.app import create_app

    settings = IntakeSettings()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,  # the app logs one structured line per request itself
        log_config=None,  # uvicorn's records go through the app's structlog formatter
        log_level=settings.log_level.lower(),
    )
