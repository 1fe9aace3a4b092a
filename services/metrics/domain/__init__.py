"""Pure metrics domain: event-to-row mapping and KPI definitions (no I/O)."""
