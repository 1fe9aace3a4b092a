"""The measured-nonconformity check: each view's occurrences → open-or-link CAPA commands.

Run periodically by the metrics worker and once by `qms metrics check-nonconformities`.
Every occurrence's command is sent each run until the broker acknowledged it once in this
process (remembered, so a steady state sends nothing); a restart, a second checker or a
rerun sends them again, which the CAPA service absorbs (deterministic CAPA ids and
references, domain/measured_nonconformities.py). A transient send failure is retried with
jittered backoff; an occurrence that cannot become a command (a value no rule foresaw) is
logged and skipped, so one bad row never stalls the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from services.capa.domain.policies import DueDatePolicy
from services.capa.service_layer.policies import CommandSender, encoded
from services.common.backoff import Backoff, retry_until_done
from services.metrics.domain.measured_nonconformities import (
    MEASURED_NONCONFORMITIES,
    MeasuredNonconformity,
    Occurrence,
    open_command,
)

log = logging.getLogger(__name__)


class RowReader(Protocol):
    async def aquery_dicts(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass
class CheckResult:
    """What one run found and sent, per source kind."""

    occurrences: dict[str, int] = field(default_factory=dict)
    capas: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    called_off: bool = False  # nothing sent: `confirm` said the views may be inconsistent


class NonconformityChecker:
    """Turns the measured nonconformities' views into CAPA commands."""

    def __init__(
        self,
        store: RowReader,
        send: CommandSender,
        policy: DueDatePolicy | None = None,
        kinds: Sequence[MeasuredNonconformity] = MEASURED_NONCONFORMITIES,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.store = store
        self.send = send
        self.policy = policy or DueDatePolicy()
        self.kinds = tuple(kinds)
        self.backoff = backoff
        self._acknowledged: set[tuple[str, str]] = set()  # (CAPA id, reference id)

    async def check(self, confirm: Callable[[], Awaitable[bool]] | None = None) -> CheckResult:
        """One round. `confirm`, asked once every view has been read and before anything is
        sent, may call the round off (the views were read while their inputs changed)."""
        result = CheckResult()
        read = [(kind, await self._rows(kind)) for kind in self.kinds]
        if confirm is not None and not await confirm():
            result.called_off = True
            return result
        for kind, rows in read:
            name = kind.source.value
            capas: set[str] = set()
            sent = 0
            for row in rows:
                try:
                    occurrence = Occurrence.from_row(row)
                    opened = open_command(kind, occurrence, self.policy)
                    (command,) = encoded([opened])
                except Exception:
                    log.exception("%s: cannot make a command of %r; skipped", kind.view, row)
                    result.skipped += 1
                    continue
                capas.add(opened.capa_id)
                seen = (opened.capa_id, opened.reference.id)
                if seen in self._acknowledged:
                    continue
                await retry_until_done(
                    partial(self.send, command),
                    f"command for {command.key.decode()}",
                    log,
                    self.backoff(),
                )
                self._acknowledged.add(seen)
                sent += 1
            result.occurrences[name] = len(rows)
            result.capas[name] = len(capas)
            result.sent[name] = sent
        return result

    async def _rows(self, kind: MeasuredNonconformity) -> list[dict[str, Any]]:
        if kind.judged_once is not None:
            (judging,) = await self.store.aquery_dicts(kind.judged_once)
            if not judging["judging"]:
                return []
        return await self.store.aquery_dicts(kind.rows_sql())
