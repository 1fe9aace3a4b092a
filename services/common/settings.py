"""Settings every service shares; each service's `config.py` extends `CommonSettings`."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.clock import Clock, clock_from
from services.common.shipped import running_from_checkout, shipped_file

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_USERS_FILE = shipped_file("users.dev.yaml")
# A checkout keeps its state in its own var/; an installed service in ./var unless QMS_DATA_DIR
# says where (the image sets it), never inside site-packages.
DEFAULT_DATA_DIR = REPO_ROOT / "var" if running_from_checkout() else Path("var")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class CommonSettings(BaseSettings):
    """Read from the environment; pointing a service at a real cluster is configuration."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = Field(default=Environment.DEVELOPMENT, validation_alias="QMS_ENV")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    topic_prefix: str = Field(default="qms.", validation_alias="QMS_TOPIC_PREFIX")
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        validation_alias="QMS_TOPIC_REPLICATION_FACTOR",
        description="Replicas of the topics the services create themselves (faust changelogs, "
        "repartition and internal topics); the topic tool uses it for the catalogue's too.",
    )
    # How every Kafka client authenticates (services.common.kafka_security maps these).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        default="PLAIN", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str = Field(default="", validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""), validation_alias="KAFKA_SASL_PASSWORD"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CAFILE",
        description="CA bundle the broker's certificate is checked against (system CAs if unset).",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CERTFILE",
        description="Client certificate (mTLS).",
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, validation_alias="KAFKA_SSL_KEYFILE", description="Client key (mTLS)."
    )
    kafka_oauth_token_file: Path | None = Field(
        default=None,
        validation_alias="KAFKA_OAUTH_TOKEN_FILE",
        description="OAUTHBEARER: a file holding the token, re-read at each authentication.",
    )
    kafka_oauth_token_url: str = Field(default="", validation_alias="KAFKA_OAUTH_TOKEN_URL")
    kafka_oauth_client_id: str = Field(default="", validation_alias="KAFKA_OAUTH_CLIENT_ID")
    kafka_oauth_client_secret: SecretStr = Field(
        default=SecretStr(""), validation_alias="KAFKA_OAUTH_CLIENT_SECRET"
    )
    kafka_oauth_scope: str = Field(default="", validation_alias="KAFKA_OAUTH_SCOPE")
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, validation_alias="QMS_DATA_DIR")
    log_level: str = Field(default="INFO", validation_alias="QMS_LOG_LEVEL")
    log_format: LogFormat = Field(
        default=LogFormat.JSON,
        validation_alias="QMS_LOG_FORMAT",
        description="json: one JSON object per line on stderr (production, log shippers); "
        "console: aligned, coloured lines for a terminal.",
    )
    otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias="QMS_OTLP_TRACES_ENDPOINT",
        description="OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces). "
        "Unset: tracing is off and costs nothing.",
    )
    lag_refresh_s: float = Field(
        default=15.0,
        gt=0,
        validation_alias="QMS_LAG_REFRESH_S",
        description="How often each consumer reads its group's lag from the broker (/metrics).",
    )
    users_file: Path = Field(
        default=DEV_USERS_FILE,
        validation_alias=AliasChoices("QMS_USERS_FILE", "QMS_CAPA_USERS_FILE"),
        description="The platform's users (services.common.users); QMS_CAPA_USERS_FILE is "
        "the older name of the same setting.",
    )
    read_token: str = Field(
        default="dev-national-reader-token",
        validation_alias="QMS_READ_TOKEN",
        description="Bearer token the platform's own readers (`qms run`, `qms report`) send "
        "to the metrics API and the audit-trail endpoint; default: the development national "
        "reader of deploy/users.dev.yaml.",
    )
    stop_grace_s: float = Field(
        default=8.0,
        gt=0,
        validation_alias="QMS_STOP_GRACE_S",
        description="After SIGTERM/SIGINT, a worker still stopping this long exits at once "
        "(its uncommitted records come again).",
    )

    clock_start: AwareDatetime | None = Field(
        default=None,
        validation_alias="QMS_NOW",
        description="RFC 3339 instant with its offset: the business clock (due dates, overdue, "
        "escalation, 'now' of the KPIs, intake's receipt stamp) reads it when the process "
        "starts and advances with real time from there (services.common.clock). Unset: the "
        "system clock.",
    )

    @cached_property
    def clock(self) -> Clock:
        """This process's business clock (one per settings object: it starts once)."""
        return clock_from(self.clock_start)

    @model_validator(mode="after")
    def _complete_kafka_security(self) -> CommonSettings:
        # Refused at start-up with the setting's name, not at the first broker round trip.
        if self.kafka_security_protocol.startswith("SASL"):
            if self.kafka_sasl_mechanism == "OAUTHBEARER":
                if self.kafka_oauth_token_file is None and not (
                    self.kafka_oauth_token_url and self.kafka_oauth_client_id
                ):
                    raise ValueError(
                        "KAFKA_SASL_MECHANISM=OAUTHBEARER needs KAFKA_OAUTH_TOKEN_FILE, or "
                        "KAFKA_OAUTH_TOKEN_URL with KAFKA_OAUTH_CLIENT_ID/_SECRET"
                    )
            elif not self.kafka_sasl_username or not self.kafka_sasl_password.get_secret_value():
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} with "
                    f"{self.kafka_sasl_mechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
                )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mTLS)")
        return self

    def topic(self, short_name: str) -> str:
        """Full topic name for a short name from `deploy/kafka/topics.yaml`."""
        return self.topic_prefix + short_name
