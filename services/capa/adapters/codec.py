"""Bytes on the wire: commands on capa.commands.v1, event lists in the table, state views."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import TypeAdapter

from schemas.binding import event_to_json
from schemas.catalogue import parse_event
from schemas.envelope import CloudEvent
from services.capa.domain.commands import COMMAND_TYPES, COMMANDS_BY_NAME, Command
from services.capa.domain.recurrence import RootCauseSighting
from services.capa.domain.signatures import state_hash
from services.capa.domain.state import CapaState
from services.capa.domain.transitions import CommandName, allowed_commands

_COMMAND_ADAPTERS: dict[type[Command], TypeAdapter[Any]] = {
    cls: TypeAdapter(cls) for cls in COMMAND_TYPES
}
_STATE = TypeAdapter(CapaState)
_SIGHTING = TypeAdapter(list[RootCauseSighting])


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def encode_command(command: Command) -> bytes:
    body = _COMMAND_ADAPTERS[type(command)].dump_python(command, mode="json")
    return _dumps({"command": command.name.value, "body": body})


def decode_command(raw: bytes) -> Command:
    """Raises ValueError (with the reason) for anything that is not a known command."""
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("a command must be a JSON object")
    cls = COMMANDS_BY_NAME[CommandName(str(document.get("command")))]
    command = _COMMAND_ADAPTERS[cls].validate_python(document.get("body"))
    assert isinstance(command, Command)
    return command


_EVENTS_HEAD = b'{"events":['


def encode_events(events: Sequence[CloudEvent]) -> bytes:
    return _dumps({"events": [event_to_json(e) for e in events]})


def extend_events(raw: bytes, new: Sequence[CloudEvent]) -> bytes:
    """`encode_events(old + new)` from `raw == encode_events(old)`, without dumping the old
    events again (a command on a long-lived CAPA would otherwise re-serialise its history)."""
    if not new:
        return raw
    tail = b"]}"
    if not raw.startswith(_EVENTS_HEAD) or not raw.endswith(tail):
        raise ValueError("not an event list written by encode_events")
    added = b",".join(_dumps(event_to_json(e)) for e in new)
    joint = b"" if raw == _EVENTS_HEAD + tail else b","
    return raw[: -len(tail)] + joint + added + tail


def decode_events(raw: bytes | None) -> list[CloudEvent]:
    if not raw:
        return []
    return [parse_event(e) for e in json.loads(raw)["events"]]


def encode_sightings(sightings: Sequence[RootCauseSighting]) -> bytes:
    return _SIGHTING.dump_json(list(sightings))


def decode_sightings(raw: bytes | None) -> list[RootCauseSighting]:
    return _SIGHTING.validate_json(raw) if raw else []


def state_view(state: CapaState, today: date, *, hashed: bool = True) -> dict[str, Any]:
    """The state as JSON, with what is derived from it (overdue, allowed commands, and unless
    `hashed` is false the state hash: lists leave it out, it is the costliest part)."""
    view: dict[str, Any] = _STATE.dump_python(state, mode="json")
    overdue_since = state.overdue_since(today)
    view["overdue"] = overdue_since is not None
    view["overdue_since"] = overdue_since.isoformat() if overdue_since else None
    view["allowed_commands"] = allowed_commands(state.status)
    if hashed:
        view["state_hash"] = state_hash(state)  # what a signed decision on this state signs
    return view
