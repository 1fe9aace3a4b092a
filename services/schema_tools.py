"""`qms schemas`: regenerate or check the JSON Schema files and the AsyncAPI document."""

from __future__ import annotations

import typer

from schemas.generate import SCHEMAS_DIR, drifted_files, write_files

app = typer.Typer(no_args_is_help=True)


@app.command()
def generate() -> None:
    """Write the JSON Schema files and the AsyncAPI document from the models."""
    written = write_files()
    for path in written:
        typer.echo(f"wrote {path.relative_to(SCHEMAS_DIR.parent)}")
    typer.echo(f"{len(written)} file(s) changed")


@app.command()
def check() -> None:
    """Fail when the checked-in contracts differ from what the models generate."""
    drifted = drifted_files()
    for path in drifted:
        typer.echo(f"drifted: {path.relative_to(SCHEMAS_DIR.parent)}", err=True)
    if drifted:
        typer.echo("run `qms schemas generate` and commit the result", err=True)
        raise typer.Exit(1)
    typer.echo("contracts up to date")
