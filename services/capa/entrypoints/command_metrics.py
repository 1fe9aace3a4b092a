"""How each CAPA command ended, for /metrics: accepted, refused (with its kind), unavailable.

Counted where the command is decided for its caller: a command forwarded to the worker owning
its partition is counted there, not twice.
"""

from __future__ import annotations

import time
from types import TracebackType

from services.common.problems import ProblemError
from services.common.service_metrics import CAPA_COMMAND_SECONDS, CAPA_COMMANDS

ACCEPTED = "accepted"
REFUSED = "refused"
UNAVAILABLE = "unavailable"
FAILED = "failed"


class CommandObservation:
    """`with CommandObservation("CloseCapa") as seen:` … `seen.accepted()` / `seen.refused(k)`."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.outcome: str | None = None
        self.refusal = ""
        self.counted = True
        self.started = 0.0

    def __enter__(self) -> CommandObservation:
        self.started = time.perf_counter()
        return self

    def accepted(self) -> None:
        self.outcome = ACCEPTED

    def refused(self, kind: str) -> None:
        self.outcome, self.refusal = REFUSED, kind

    def forwarded(self) -> None:
        """Answered by another worker, which counts it."""
        self.counted = False

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.counted:
            return
        outcome = self.outcome or _outcome_of(error)
        CAPA_COMMANDS.labels(self.command, outcome, self.refusal).inc()
        CAPA_COMMAND_SECONDS.labels(self.command, outcome).observe(
            time.perf_counter() - self.started
        )


def _outcome_of(error: BaseException | None) -> str:
    if isinstance(error, ProblemError) and error.status == 503:
        return UNAVAILABLE
    return FAILED if error is not None else ACCEPTED
