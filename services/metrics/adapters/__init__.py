"""ClickHouse store and migrations."""
