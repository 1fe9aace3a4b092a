"""Settings of the metrics service (env CLICKHOUSE_*, QMS_METRICS_*, plus the shared ones)."""

from __future__ import annotations

from pydantic import Field, model_validator

from services.common.settings import CommonSettings


class MetricsSettings(CommonSettings):
    """Everything metrics reads from the environment; defaults suit a developer machine."""

    clickhouse_dsn: str = Field(
        default="",
        validation_alias="CLICKHOUSE_DSN",
        description="`chdb:///path` (embedded) or `http(s)://user:pass@host:8123`; "
        "empty means `chdb://<data_dir>/clickhouse`.",
    )
    clickhouse_database: str = Field(
        default="qms",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        validation_alias="CLICKHOUSE_DATABASE",
    )
    host: str = Field(default="127.0.0.1", validation_alias="QMS_METRICS_HOST")
    port: int = Field(default=8083, validation_alias="QMS_METRICS_PORT")
    batch_size: int = Field(default=10_000, ge=1, validation_alias="QMS_METRICS_BATCH_SIZE")
    flush_interval_s: float = Field(
        default=1.0, gt=0, validation_alias="QMS_METRICS_FLUSH_INTERVAL_S"
    )
    replay_mapping_processes: int = Field(
        default=2,
        ge=0,
        le=64,
        validation_alias="QMS_METRICS_REPLAY_MAPPING_PROCESSES",
        description="Helper processes `qms metrics replay` maps batches in while it inserts "
        "(0: map in the replay's own process, on one core).",
    )
    session_timeout_s: float = Field(
        default=30.0,
        ge=6,
        validation_alias="QMS_METRICS_SESSION_TIMEOUT_S",
        description="Kafka group session timeout: how soon a dead worker's partitions move.",
    )
    clickhouse_cluster: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_{}.-]*$",
        validation_alias="CLICKHOUSE_CLUSTER",
        description="A replicated, sharded ClickHouse cluster (its remote_servers name, e.g. "
        "`{cluster}`): migrations render for it and inserts go through Distributed tables. "
        "Empty: one server or chDB.",
    )
    migrate_on_start: bool = Field(
        default=True,
        validation_alias="QMS_METRICS_MIGRATE_ON_START",
        description="Apply pending migrations when the service starts (one machine). Set "
        "false where a migration Job runs `qms migrate`: workers then refuse a stale schema.",
    )
    events_ttl_months: int = Field(
        default=0,
        ge=0,
        validation_alias="QMS_METRICS_EVENTS_TTL_MONTHS",
        description="Cluster schema: months the raw `events` rows are kept (0: for ever).",
    )
    facts_ttl_months: int = Field(
        default=0,
        ge=0,
        validation_alias="QMS_METRICS_FACTS_TTL_MONTHS",
        description="Cluster schema: months the fact tables' rows are kept (0: for ever).",
    )
    consumer_group: str = Field(
        default="",
        validation_alias="QMS_METRICS_CONSUMER_GROUP",
        description="Kafka consumer group of the metrics workers; empty: `<topic_prefix>metrics`.",
    )

    # Effectiveness measured on the stream (services/capa/domain/effectiveness.py, docs/capa.md).
    effectiveness_window_days: int = Field(
        default=30,
        ge=1,
        le=366,
        validation_alias="QMS_EFFECTIVENESS_WINDOW_DAYS",
        description="Days after a CAPA's last action was done over which its nonconformity's "
        "measure is followed.",
    )
    effectiveness_grace_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 31,
        validation_alias="QMS_EFFECTIVENESS_GRACE_HOURS",
        description="Hours waited after a window ends before it is measured, so events of the "
        "window that reach ClickHouse late still count.",
    )
    effectiveness_late_dossiers_threshold: int = Field(
        default=0,
        ge=0,
        validation_alias="QMS_EFFECTIVENESS_LATE_DOSSIERS_THRESHOLD",
        description="Late dossiers of the CAPA's agency and procedure the window tolerates; "
        "more is ineffective by measurement.",
    )
    effectiveness_reopen: bool = Field(
        default=False,
        validation_alias="QMS_EFFECTIVENESS_REOPEN",
        description="Reopen a CAPA found ineffective by measurement (not yet closed).",
    )
    effectiveness_check_interval_s: float = Field(
        default=3600.0,
        ge=0,
        validation_alias="QMS_EFFECTIVENESS_CHECK_INTERVAL_S",
        description="How often the metrics worker runs the effectiveness check (0: never; "
        "`qms metrics effectiveness-check` runs it once).",
    )
    nonconformity_check_interval_s: float = Field(
        default=60.0,
        ge=0,
        validation_alias="QMS_METRICS_NONCONFORMITY_CHECK_INTERVAL_S",
        description="How often the worker turns the measured nonconformities (procedures not "
        "in force, extended due dates) into CAPA commands; 0: never (run "
        "`qms metrics check-nonconformities` instead).",
    )

    @model_validator(mode="after")
    def _derive_defaults(self) -> MetricsSettings:
        # Derived here rather than in Field defaults because they depend on other settings.
        if not self.clickhouse_dsn:
            self.clickhouse_dsn = f"chdb://{self.data_dir / 'clickhouse'}"
        if not self.consumer_group:
            self.consumer_group = f"{self.topic_prefix}metrics"
        return self

    @property
    def is_embedded(self) -> bool:
        """True when the store is the in-process chDB engine (one process per data path)."""
        return self.clickhouse_dsn.startswith("chdb:")
