"""Metrics service: every event folded into ClickHouse, KPI views, read API and reports."""
