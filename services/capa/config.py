"""CAPA service settings, read from the environment (QMS_CAPA_* and the common QMS_* ones)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from services.common.settings import CommonSettings, Environment
from services.common.shipped import shipped_file

DEV_USERS_FILE = shipped_file("capa/users.dev.yaml")


class CapaSettings(CommonSettings):
    """Where the CAPA service listens, which Kafka it uses and how it keeps its state."""

    host: str = Field(default="127.0.0.1", validation_alias="QMS_CAPA_HOST")
    port: int = Field(default=8082, ge=1, le=65535, validation_alias="QMS_CAPA_PORT")
    app_id: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]{0,100}$",
        validation_alias="QMS_CAPA_APP_ID",
        description="faust app id: the consumer group and the prefix of its internal topics. "
        "Empty means `<topic_prefix>capa`.",
    )
    users_file: Path = Field(default=DEV_USERS_FILE, validation_alias="QMS_CAPA_USERS_FILE")
    escalation_interval_s: float = Field(
        default=60.0, gt=0, validation_alias="QMS_CAPA_ESCALATION_INTERVAL_S"
    )
    ask_timeout_s: float = Field(default=30.0, gt=0, validation_alias="QMS_CAPA_ASK_TIMEOUT_S")
    kafka_session_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias="QMS_CAPA_KAFKA_SESSION_TIMEOUT_S"
    )
    correction_days_major: int = Field(
        default=7, ge=0, validation_alias="QMS_CAPA_CORRECTION_DAYS_MAJOR"
    )
    correction_days_minor: int = Field(
        default=15, ge=0, validation_alias="QMS_CAPA_CORRECTION_DAYS_MINOR"
    )
    closure_days_major: int = Field(
        default=30, ge=0, validation_alias="QMS_CAPA_CLOSURE_DAYS_MAJOR"
    )
    closure_days_minor: int = Field(
        default=60, ge=0, validation_alias="QMS_CAPA_CLOSURE_DAYS_MINOR"
    )
    state_dir: Path | None = Field(
        default=None,
        validation_alias="QMS_CAPA_STATE_DIR",
        description="RocksDB directory of the tables; default <data_dir>/capa/<app_id>.",
    )

    @model_validator(mode="after")
    def _app_id_of_this_deployment(self) -> CapaSettings:
        # Group, changelogs and reply topics belong to one deployment: two topic prefixes on
        # one broker must not share (and recover) each other's tables.
        if not self.app_id:
            self.app_id = f"{self.topic_prefix}capa"
        return self

    @model_validator(mode="after")
    def _no_dev_users_in_production(self) -> CapaSettings:
        if self.environment is Environment.PRODUCTION and self.users_file == DEV_USERS_FILE:
            raise ValueError(
                "QMS_CAPA_USERS_FILE points at the development users file, whose tokens are "
                "public: mount a users file of your own in production"
            )
        return self

    @property
    def table_dir(self) -> Path:
        return self.state_dir or self.data_dir / "capa" / self.app_id
