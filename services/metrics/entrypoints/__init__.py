"""Faust consumer, FastAPI read API and the typer CLI of the metrics service."""
