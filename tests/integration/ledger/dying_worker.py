"""A ledger worker that dies in the middle of its first batch, like a SIGKILL at the worst time.

It publishes the first half of the batch's entries, waits for the broker's acks, then exits
at once (`os._exit`: no cleanup, no commit): entries are in the ledger, no chain head moved,
no offset committed, no checkpoint signed.

    python -m tests.integration.ledger.dying_worker      # with the ledger's environment
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from services.intake.ledger.adapters.publisher import LedgerPublisher
from services.intake.ledger.domain.chain import LedgerEntry
from services.intake.ledger.worker import run_worker

EXIT_CODE = 137  # what a shell reports for SIGKILL


class DiesMidBatch(LedgerPublisher):
    async def publish_entries(self, entries: Sequence[LedgerEntry]) -> None:
        if not entries:
            return
        await super().publish_entries(entries[: max(1, len(entries) // 2)])
        print(f"dying after {max(1, len(entries) // 2)} of {len(entries)} entries", flush=True)
        os._exit(EXIT_CODE)


if __name__ == "__main__":
    run_worker(publisher_type=DiesMidBatch)
