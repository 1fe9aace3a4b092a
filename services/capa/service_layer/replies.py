"""What a command gets back: the events it produced, or the rule it broke (typed, not dicts)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.envelope import CloudEvent
from services.capa.domain.refusals import (
    IllegalTransition,
    InvalidSignature,
    Refusal,
    StaleSignature,
    StaleVersion,
)
from services.capa.domain.state import CapaState


@dataclass(frozen=True)
class CommandAccepted:
    """The command was decided: `events` (possibly none, e.g. a duplicate) and the state after."""

    state: CapaState
    events: tuple[CloudEvent, ...]

    @property
    def capa_id(self) -> str:
        return self.state.capa_id

    @property
    def version(self) -> int:
        return self.state.version


@dataclass(frozen=True)
class CommandRefused:
    """The command produced no events; `kind` names the broken rule (see refusals.py)."""

    kind: str
    detail: str
    current_status: str | None = None
    current_version: int | None = None
    allowed_commands: tuple[str, ...] | None = None
    expected_version: int | None = None
    field: str | None = None  # the command field at fault (`signature.value`, …)
    current_state_hash: str | None = None
    signed_state_hash: str | None = None

    @classmethod
    def of(cls, refusal: Refusal, state: CapaState | None) -> CommandRefused:
        return cls(
            kind=refusal.kind,
            detail=refusal.detail,
            current_status=state.status.value if state is not None else None,
            current_version=state.version if state is not None else None,
            allowed_commands=(
                tuple(refusal.allowed) if isinstance(refusal, IllegalTransition) else None
            ),
            expected_version=refusal.expected if isinstance(refusal, StaleVersion) else None,
            field=(
                refusal.field
                if isinstance(refusal, InvalidSignature)
                else "signature.state_hash"
                if isinstance(refusal, StaleSignature)
                else None
            ),
            current_state_hash=refusal.current if isinstance(refusal, StaleSignature) else None,
            signed_state_hash=refusal.signed if isinstance(refusal, StaleSignature) else None,
        )

    def extensions(self) -> dict[str, object]:
        """The refusal's details that are set, for a problem document."""
        fields = {
            "current_status": self.current_status,
            "current_version": self.current_version,
            "allowed_commands": list(self.allowed_commands)
            if self.allowed_commands is not None
            else None,
            "expected_version": self.expected_version,
            "current_state_hash": self.current_state_hash,
            "signed_state_hash": self.signed_state_hash,
        }
        return {name: value for name, value in fields.items() if value is not None}


CommandReply = CommandAccepted | CommandRefused
