"""Pure adapters: the command codec on capa.commands.v1 and the token directory."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.capa import RootCauseCategory, RootCauseMethod, VerificationResult
from services.capa.adapters.auth import hash_token, load_users
from services.capa.adapters.codec import (
    decode_command,
    decode_events,
    encode_command,
    encode_events,
    extend_events,
)
from services.capa.adapters.store import CapaStore
from services.capa.config import DEV_USERS_FILE
from services.capa.domain.commands import (
    CancelCapa,
    CloseCapa,
    Command,
    CompleteAction,
    EscalateOverdue,
    FlagRecurrence,
    PlanActions,
    RecordCorrection,
    RecordRootCause,
    VerifyEffectiveness,
)
from services.capa.domain.refusals import InvalidCommand
from services.capa.domain.transitions import Role
from services.common.settings import Environment
from tests.unit.capa.factories import T0, action, given, open_capa, signed

pytestmark = pytest.mark.unit

WHO: dict[str, Any] = {
    "capa_id": "CAPA-1",
    "actor_id": "owner:H56.01",
    "actor_role": "capa_owner",
    "at": T0,
}

COMMANDS: list[Command] = [
    open_capa(),
    RecordCorrection(**WHO, correction="c", expected_version=2, reason="why"),
    RecordRootCause(
        **WHO, method=RootCauseMethod.FISHBONE, category=RootCauseCategory.PEOPLE, text="t"
    ),
    PlanActions(**WHO, actions=(action("A1"), action("A2", due_on=date(2026, 4, 1)))),
    CompleteAction(**WHO, action_id="A1", completed_on=date(2026, 3, 3), evidence=("x",)),
    VerifyEffectiveness(**WHO, result=VerificationResult.INEFFECTIVE),
    CloseCapa(**WHO),
    CancelCapa(**WHO, justification="j"),
    EscalateOverdue(**WHO, today=date(2026, 5, 1)),
    FlagRecurrence(**WHO, earlier_capa_id="CAPA-0", category=RootCauseCategory.PROCESS),
    signed(CancelCapa(**WHO, justification="j"), given(open_capa())[0]),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_survives_the_wire(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


def test_unknown_command_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="launch_rocket"):
        decode_command(b'{"command": "launch_rocket", "body": {}}')


def test_event_lists_survive_the_table() -> None:
    _, events = given(open_capa(), RecordCorrection(**WHO, correction="c"))
    assert decode_events(encode_events(events)) == events


def test_an_event_list_extended_in_place_is_the_list_encoded_whole() -> None:
    _, events = given(
        open_capa(),
        RecordCorrection(**WHO, correction="c"),
        RecordRootCause(
            **WHO, method=RootCauseMethod.FISHBONE, category=RootCauseCategory.PEOPLE, text="t"
        ),
    )
    assert len(events) == 3
    for cut in range(len(events) + 1):
        old, new = events[:cut], events[cut:]
        assert extend_events(encode_events(old), new) == encode_events(events)


def test_extending_bytes_that_are_no_event_list_is_refused() -> None:
    _, events = given(open_capa())
    with pytest.raises(ValueError, match="encode_events"):
        extend_events(b'{"events": []}', events)


def test_the_store_appends_onto_what_it_wrote_and_reads_back_the_whole_stream() -> None:
    table: dict[Any, Any] = {}
    store = CapaStore(table)
    _, events = given(open_capa(), RecordCorrection(**WHO, correction="c"))
    first, state = events[:1], given(open_capa())[0]
    assert state is not None
    store.append("CAPA-1", first, state)
    loaded, _ = store.loaded("CAPA-1")
    after = given(open_capa(), RecordCorrection(**WHO, correction="c"))[0]
    assert after is not None
    store.append("CAPA-1", [*loaded, events[1]], after)
    assert table["CAPA-1"] == encode_events(events)
    assert CapaStore(table).events("CAPA-1") == events  # a fresh reader (no cache) agrees


def test_the_store_encodes_whole_a_stream_it_did_not_write_itself() -> None:
    _, events = given(open_capa(), RecordCorrection(**WHO, correction="c"))
    table: dict[Any, Any] = {"CAPA-1": b'{"events": [' + encode_events(events[:1])[11:]}
    store = CapaStore(table)
    loaded, _ = store.loaded("CAPA-1")
    state = given(open_capa(), RecordCorrection(**WHO, correction="c"))[0]
    assert state is not None
    store.append("CAPA-1", [*loaded, events[1]], state)
    assert table["CAPA-1"] == encode_events([*loaded, events[1]])


def test_dev_users_resolve_to_role_and_agency_scope() -> None:
    users = load_users(DEV_USERS_FILE, Environment.DEVELOPMENT)
    owner = users.authenticate("dev-capa-owner-token")
    assert owner is not None and owner.role is Role.CAPA_OWNER
    assert owner.can_see("H56.07") and not owner.can_see("H57.01")
    assert users.authenticate("not-a-token") is None


def test_dev_tokens_are_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refused in production"):
        load_users(DEV_USERS_FILE, Environment.PRODUCTION)
    own = tmp_path / "users.yaml"
    own.write_text(
        "users:\n  - user_id: leader-77\n    role: leader\n    agencies: ['*']\n"
        f"    token_sha256: {hash_token('a-real-secret')}\n"
    )
    assert load_users(own, Environment.PRODUCTION).authenticate("a-real-secret") is not None


def test_a_closure_due_before_the_correction_due_is_refused() -> None:
    command = open_capa(closure_due_on=date(2026, 3, 9) - timedelta(days=1))
    with pytest.raises(InvalidCommand, match="closure due date"):
        given(command)
