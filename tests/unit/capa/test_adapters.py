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
)
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
