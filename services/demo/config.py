"""Settings of the demo generator (env QMS_DEMO_*, plus the shared ones)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class DemoSettings(CommonSettings):
    """Where and as whom `qms demo` publishes; command-line options override these."""

    intake_url: str = Field(default="http://127.0.0.1:8081", validation_alias="QMS_DEMO_INTAKE_URL")
    token: str = Field(default="dev-demo-province-token", validation_alias="QMS_DEMO_TOKEN")
    batch_size: int = Field(default=500, ge=1, le=1000, validation_alias="QMS_DEMO_BATCH_SIZE")
