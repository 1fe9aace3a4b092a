"""The metrics worker's one way to send CAPA commands: its faust app's `capa.commands.v1`.

The measured-nonconformity and effectiveness timers both ask the CAPA service to act; each
command is keyed by its CAPA id and sent only once the broker has acknowledged it.
"""

from __future__ import annotations

from typing import Any

from schemas.topics import CAPA_COMMANDS_TOPIC
from services.capa.service_layer.policies import CommandSender, Outgoing
from services.metrics.config import MetricsSettings


def capa_command_sender(app: Any, settings: MetricsSettings) -> CommandSender:
    """A sender over the faust `app`'s CAPA command topic (raw keys and values)."""
    commands = app.topic(
        settings.topic(CAPA_COMMANDS_TOPIC),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def send(command: Outgoing) -> None:
        pending = await commands.send(key=command.key, value=command.value)
        await pending  # acknowledged by the broker

    return send
