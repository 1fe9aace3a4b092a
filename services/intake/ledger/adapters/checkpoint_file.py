"""The checkpoint file: signed notes appended as JSON lines, an anchor kept outside Kafka."""

from __future__ import annotations

import json
import os
from pathlib import Path

from services.intake.ledger.domain.note import SignedCheckpoint, parse_note


def append_note(path: Path, note_text: str) -> None:
    """Append one note and make it durable before the caller moves on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"note": note_text}, ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_notes(path: Path) -> list[SignedCheckpoint]:
    """Every note of the file; a line that does not parse raises ValueError naming the line."""
    notes = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            notes.append(parse_note(raw["note"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a checkpoint line ({exc})") from exc
    return notes
