"""Why a command was refused: each refusal names the rule it hit."""

from __future__ import annotations

from typing import ClassVar


class Refusal(Exception):
    """A command that produced no events, and why."""

    kind: ClassVar[str] = "refused"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class CapaNotFound(Refusal):
    kind = "not_found"


class NotPermitted(Refusal):
    kind = "forbidden"


class StaleVersion(Refusal):
    kind = "stale_version"

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"expected version {expected}, the CAPA is at version {actual}: "
            "reload it and decide again"
        )


class IllegalTransition(Refusal):
    kind = "illegal_transition"

    def __init__(self, command: str, status: str, allowed: list[str]) -> None:
        self.command = command
        self.status = status
        self.allowed = allowed
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"{command} is not allowed when the CAPA is {status}; allowed: {allowed_text}"
        )


class InvalidCommand(Refusal):
    kind = "invalid_command"


class InvalidSignature(Refusal):
    """The decision's electronic signature is missing, not the decider's, or does not verify."""

    kind = "invalid_signature"

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(f"{field}: {detail}")


class StaleSignature(Refusal):
    """The decision was signed over a state of the CAPA that is no longer the current one."""

    kind = "stale_signature"

    def __init__(self, signed: str, current: str) -> None:
        self.signed = signed
        self.current = current
        super().__init__(
            f"signature.state_hash: signed over state {signed}, the CAPA is now at state "
            f"{current}: reload it, review it and sign again"
        )


class InvalidEvent(ValueError):
    """An event that cannot follow the state it is applied to (corrupt or misordered stream)."""
