"""`python -m services` is the `qms` command (used where the console script is not on PATH)."""

from services.cli import app

app()
