"""Settings of the intake service (env QMS_INTAKE_*, plus the shared ones)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from services.common.settings import CommonSettings, Environment
from services.common.shipped import shipped_file

DEV_PUBLISHERS_FILE = shipped_file("intake/publishers.dev.yaml")


class PublisherConfig(BaseModel):
    """One publisher credential as written in the publishers file or QMS_INTAKE_PUBLISHERS."""

    name: str = Field(min_length=1, max_length=128)
    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the bearer token; never the token"
    )
    agencies: list[str] = Field(
        min_length=1, description="Agency codes or glob patterns ('H56.*', '*')."
    )
    families: list[str] = Field(min_length=1, description="Event families it may publish.")
    sources: list[str] = Field(
        min_length=1,
        description="CloudEvents source URIs it owns: exact URIs or glob patterns "
        "('urn:vn:gov:h56:*'). An event with any other source is refused (403).",
    )
    events_per_second: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)


class IntakeSettings(CommonSettings):
    """Everything intake reads from the environment; defaults suit a developer machine."""

    host: str = Field(default="127.0.0.1", validation_alias="QMS_INTAKE_HOST")
    port: int = Field(default=8081, validation_alias="QMS_INTAKE_PORT")

    publishers_file: Path | None = Field(
        default=None,
        validation_alias="QMS_INTAKE_PUBLISHERS_FILE",
        description="YAML publishers file; in development defaults to the dev file.",
    )
    publishers: list[PublisherConfig] = Field(
        default_factory=list,
        validation_alias="QMS_INTAKE_PUBLISHERS",
        description="Extra publishers as a JSON list (same fields as the YAML file).",
    )

    max_event_bytes: int = Field(
        default=256 * 1024, ge=1024, validation_alias="QMS_INTAKE_MAX_EVENT_BYTES"
    )
    max_batch_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, validation_alias="QMS_INTAKE_MAX_BATCH_BYTES"
    )
    max_batch_events: int = Field(
        default=1000, ge=1, validation_alias="QMS_INTAKE_MAX_BATCH_EVENTS"
    )
    future_skew_seconds: float = Field(
        default=300.0, ge=0, validation_alias="QMS_INTAKE_FUTURE_SKEW_SECONDS"
    )

    # Counted in events, not requests: a batch of 500 takes 500 tokens.
    rate_limit_events_per_second: float = Field(
        default=50_000.0, gt=0, validation_alias="QMS_INTAKE_RATE_LIMIT_EPS"
    )
    rate_limit_burst: int = Field(
        default=100_000, ge=1, validation_alias="QMS_INTAKE_RATE_LIMIT_BURST"
    )

    dedup_window_hours: float = Field(
        default=24.0, gt=0, validation_alias="QMS_INTAKE_DEDUP_WINDOW_HOURS"
    )
    dedup_max_entries: int = Field(
        default=1_000_000, ge=1, validation_alias="QMS_INTAKE_DEDUP_MAX_ENTRIES"
    )

    # Several replicas behind one load balancer: every replica reads what the others
    # accepted from the event topics (adapters/acceptance_tail.py). Off for one process.
    shared_window: bool = Field(default=False, validation_alias="QMS_INTAKE_SHARED_WINDOW")
    shared_window_wait_ms: int = Field(
        default=5_000, ge=10, validation_alias="QMS_INTAKE_SHARED_WINDOW_WAIT_MS"
    )

    producer_linger_ms: int = Field(default=5, ge=0, validation_alias="QMS_INTAKE_LINGER_MS")
    producer_max_batch_bytes: int = Field(
        default=512 * 1024, ge=16 * 1024, validation_alias="QMS_INTAKE_PRODUCER_BATCH_BYTES"
    )
    producer_request_timeout_ms: int = Field(
        default=15_000, ge=1000, validation_alias="QMS_INTAKE_PRODUCER_TIMEOUT_MS"
    )

    # Processes that validate batches beside the event loop (0: validate in the loop).
    # Useful with spare cores; the idempotency window stays in the main process.
    admission_workers: int = Field(
        default=0, ge=0, le=64, validation_alias="QMS_INTAKE_ADMISSION_WORKERS"
    )

    # A batch allocates thousands of short-lived objects; CPython's default first-generation
    # threshold (700) then runs the collector hundreds of times per batch. 0 keeps the default.
    gc_gen0_threshold: int = Field(
        default=100_000, ge=0, validation_alias="QMS_INTAKE_GC_GEN0_THRESHOLD"
    )

    oidc_issuer: str | None = Field(default=None, validation_alias="QMS_INTAKE_OIDC_ISSUER")
    oidc_audience: str | None = Field(default=None, validation_alias="QMS_INTAKE_OIDC_AUDIENCE")
    oidc_jwks_url: str | None = Field(default=None, validation_alias="QMS_INTAKE_OIDC_JWKS_URL")
    oidc_agencies_claim: str = Field(
        default="qms_agencies", validation_alias="QMS_INTAKE_OIDC_AGENCIES_CLAIM"
    )
    oidc_families_claim: str = Field(
        default="qms_families", validation_alias="QMS_INTAKE_OIDC_FAMILIES_CLAIM"
    )
    oidc_sources_claim: str = Field(
        default="qms_sources", validation_alias="QMS_INTAKE_OIDC_SOURCES_CLAIM"
    )

    @model_validator(mode="after")
    def _default_to_dev_publishers_in_development(self) -> IntakeSettings:
        # The dev file is a convenience for laptops only; production must name its own.
        if (
            self.publishers_file is None
            and not self.publishers
            and self.environment is Environment.DEVELOPMENT
        ):
            self.publishers_file = DEV_PUBLISHERS_FILE
        return self
