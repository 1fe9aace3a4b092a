"""Settings of the audit-trail ledger (env QMS_LEDGER_*, plus the shared ones)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from schemas.catalogue import PUBLISHED_FAMILIES
from schemas.topics import family_topics
from services.common.settings import CommonSettings, Environment
from services.common.shipped import shipped_file
from services.intake.ledger.domain.note import DEFAULT_ORIGIN_PREFIX, check_key_name
from services.intake.ledger.domain.trail import DEFAULT_MAX_SEGMENT_ENTRIES

DEV_SIGNING_KEY_FILE = shipped_file("intake/ledger-dev-key.pem")
DEV_PUBLIC_KEY_FILE = shipped_file("intake/ledger-dev-key.pub")
DEV_KEY_NAME = "qms-trail-dev"

# The ledger chains every topic intake publishes to (short names, prefix added by settings).
CHAINED_TOPICS = family_topics(PUBLISHED_FAMILIES)


class LedgerSettings(CommonSettings):
    """Ledger worker, verifier and trail endpoint settings; defaults suit a developer machine."""

    signing_key: SecretStr | None = Field(
        default=None,
        validation_alias="QMS_LEDGER_SIGNING_KEY",
        description="Ed25519 private key: PKCS#8 PEM text or the base64 32-byte seed.",
    )
    signing_key_file: Path | None = Field(
        default=None,
        validation_alias="QMS_LEDGER_SIGNING_KEY_FILE",
        description="File with the private key (PEM or base64 seed); dev key in development.",
    )
    key_name: str = Field(
        default=DEV_KEY_NAME,
        validation_alias="QMS_LEDGER_KEY_NAME",
        description="Signer name on checkpoint notes (no spaces, no '+').",
    )
    public_key_file: Path | None = Field(
        default=None,
        validation_alias="QMS_LEDGER_PUBLIC_KEY_FILE",
        description="Verifier key (`name+id+key` line or SPKI PEM); else from the signing key.",
    )
    origin_prefix: str = Field(default=DEFAULT_ORIGIN_PREFIX, validation_alias="QMS_LEDGER_ORIGIN")
    checkpoint_every: int = Field(
        default=1000,
        ge=1,
        validation_alias="QMS_LEDGER_CHECKPOINT_EVERY",
        description="Sign a checkpoint of a chain every N entries.",
    )
    checkpoint_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias="QMS_LEDGER_CHECKPOINT_SECONDS",
        description="…and at least every T seconds when the chain grew.",
    )
    batch_size: int = Field(
        default=1000,
        ge=1,
        validation_alias="QMS_LEDGER_BATCH_SIZE",
        description="Chain up to N records per batch (all partitions of the worker together).",
    )
    batch_wait_ms: int = Field(
        default=100,
        ge=1,
        validation_alias="QMS_LEDGER_BATCH_WAIT_MS",
        description="…or whatever arrived within T ms, whichever comes first.",
    )
    fetch_partition_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024 * 1024,
        validation_alias="QMS_LEDGER_FETCH_PARTITION_BYTES",
        description="Bytes of one partition a fetch may bring (max_partition_fetch_bytes).",
    )
    checkpoint_file: Path | None = Field(
        default=None,
        validation_alias="QMS_LEDGER_CHECKPOINT_FILE",
        description="Also append checkpoints to this file (JSON lines): an anchor outside Kafka.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias="QMS_LEDGER_METRICS_PORT",
        description="Serve Prometheus /metrics on this port (the worker has no other HTTP "
        "server). Unset: no metrics endpoint.",
    )
    app_id: str = Field(
        default="",
        validation_alias="QMS_LEDGER_APP_ID",
        description=(
            "The consumer group; the heads topic is named after it. "
            "Empty means `<topic_prefix>ledger`."
        ),
    )
    session_timeout_seconds: float = Field(
        default=30.0,
        ge=6,
        validation_alias="QMS_LEDGER_SESSION_TIMEOUT_S",
        description="Kafka group session timeout: how soon a crashed worker's partitions move.",
    )
    chained_topics: tuple[str, ...] = Field(
        default=CHAINED_TOPICS,
        validation_alias="QMS_LEDGER_TOPICS",
        description="Short names of the event topics to chain (JSON list).",
    )

    # -- GET /v1/audit/trail/{subject} (served by intake from its subject index) ------------
    trail_index_dir: Path | None = Field(
        default=None,
        validation_alias="QMS_TRAIL_INDEX_DIR",
        description="RocksDB directory of intake's subject index (default under QMS_DATA_DIR).",
    )
    trail_wait_ms: int = Field(
        default=2000,
        ge=0,
        validation_alias="QMS_TRAIL_WAIT_MS",
        description="How long a read waits for the index to reach the ledger's end first.",
    )
    trail_max_segment_entries: int = Field(
        default=DEFAULT_MAX_SEGMENT_ENTRIES,
        ge=1,
        validation_alias="QMS_TRAIL_MAX_SEGMENT_ENTRIES",
        description="Split a trail's chain segment at a checkpoint beyond this many entries.",
    )
    trail_reads_per_second: float = Field(
        default=2.0,
        gt=0,
        validation_alias="QMS_TRAIL_READS_PER_SECOND",
        description="Trail reads per second per caller (token bucket)...",
    )
    trail_read_burst: int = Field(
        default=10,
        ge=1,
        validation_alias="QMS_TRAIL_READ_BURST",
        description="...and the burst a caller may send at once.",
    )
    trail_max_concurrent_reads: int = Field(
        default=2,
        ge=1,
        validation_alias="QMS_TRAIL_MAX_CONCURRENT_READS",
        description="Trail reads built at the same time, all callers together; more get 429.",
    )

    @field_validator("key_name")
    @classmethod
    def _key_name_is_valid(cls, value: str) -> str:
        return check_key_name(value)

    @model_validator(mode="after")
    def _dev_key_by_default_in_development(self) -> LedgerSettings:
        # Only a developer machine falls back to the checked-in key; `load_signer` refuses it
        # (by file, by key bytes and by name) anywhere else.
        if (
            self.environment is Environment.DEVELOPMENT
            and self.signing_key is None
            and self.signing_key_file is None
        ):
            self.signing_key_file = DEV_SIGNING_KEY_FILE
        return self

    @model_validator(mode="after")
    def _app_id_of_this_deployment(self) -> LedgerSettings:
        # The group and its heads topic belong to one deployment: two prefixes on one broker
        # sharing them would share one set of chain heads and one group's offsets.
        if not self.app_id:
            self.app_id = f"{self.topic_prefix}ledger"
        return self

    def trail_index_path(self) -> Path:
        """`$QMS_DATA_DIR/<topic prefix>trail-index` unless QMS_TRAIL_INDEX_DIR says otherwise."""
        return self.trail_index_dir or self.data_dir / f"{self.topic_prefix}trail-index"

    def chained_topic_names(self) -> list[str]:
        return [self.topic(short) for short in self.chained_topics]
