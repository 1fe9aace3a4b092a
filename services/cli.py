"""`qms`: the one command line of QMS Trail."""

from __future__ import annotations

import typer

from services.capa.entrypoints.cli import app as capa_app
from services.demo.entrypoints.cli import demo
from services.intake.entrypoints.cli import app as intake_app
from services.intake.entrypoints.cli import audit_app
from services.metrics.entrypoints.cli import app as metrics_app
from services.metrics.entrypoints.cli import migrate, report
from services.runner.cli import run
from services.schema_tools import app as schemas_app

app = typer.Typer(no_args_is_help=True, help="QMS Trail: audit trail, CAPA and ISO 9001 metrics.")
app.add_typer(intake_app, name="intake", help="The publishing API (intake service).")
app.add_typer(audit_app, name="audit", help="Verify the tamper-evident audit trail.")
app.add_typer(capa_app, name="capa", help="Corrective actions (CAPA service).")
app.add_typer(metrics_app, name="metrics", help="ClickHouse metrics service.")
app.add_typer(schemas_app, name="schemas", help="Generate and check the event contracts.")
app.command()(demo)
app.command()(migrate)
app.command()(report)
app.command()(run)
