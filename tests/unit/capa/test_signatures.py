"""Electronic signatures on CAPA decisions: bound to the state, the decider and the meaning."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas.binding import event_to_json, from_kafka_value, to_kafka_record
from schemas.capa import (
    CapaClosed,
    CapaEffectivenessVerified,
    RootCauseCategory,
    RootCauseMethod,
    SignatureMeaning,
    VerificationResult,
)
from services.capa.adapters.signing import (
    DecisionSigner,
    Ed25519Keys,
    dev_private_key,
    load_signing_keys,
    signed_command,
)
from services.capa.domain.commands import (
    CloseCapa,
    CompleteAction,
    PlanActions,
    RecordCorrection,
    RecordRootCause,
    VerifyEffectiveness,
)
from services.capa.domain.decide import decide
from services.capa.domain.evolve import fold
from services.capa.domain.refusals import InvalidSignature, StaleSignature
from services.capa.domain.signature_audit import check_signatures
from services.capa.domain.signatures import state_hash
from services.capa.domain.state import CapaState
from services.capa.entrypoints.cli import app as capa_cli
from services.capa.service_layer.commands import handle_command
from services.capa.service_layer.replies import CommandAccepted, CommandRefused
from services.common.settings import DEV_USERS_FILE, Environment
from services.common.users import dev_public_key, load_user_entries
from tests.unit.capa.factories import T0, action, given, open_capa, signed
from tests.unit.capa.test_command_handling import MemoryPublisher, MemoryStreams

pytestmark = pytest.mark.unit

KEYS = load_signing_keys(DEV_USERS_FILE, Environment.DEVELOPMENT)
OWNER: dict[str, Any] = {
    "actor_id": "owner:H56.01",
    "actor_role": "capa_owner",
    "capa_id": "CAPA-1",
}
AUDITOR: dict[str, Any] = {"actor_id": "auditor-0009", "actor_role": "auditor", "capa_id": "CAPA-1"}
SECRETARY: dict[str, Any] = {
    "actor_id": "secretary-01",
    "actor_role": "iso_secretary",
    "capa_id": "CAPA-1",
}


def at(days: int) -> dict[str, Any]:
    return {"at": T0 + timedelta(days=days)}


def completed() -> list[Any]:
    """Commands that take CAPA-1 to actions completed."""
    return [
        open_capa(),
        RecordCorrection(**OWNER, **at(1), reason="contain", correction="Sheets re-done"),
        RecordRootCause(
            **OWNER,
            **at(2),
            reason="5 whys",
            method=RootCauseMethod.FIVE_WHYS,
            category=RootCauseCategory.PROCESS,
            text="No step owner for archiving",
        ),
        PlanActions(**OWNER, **at(3), reason="plan", actions=(action("A1"),)),
        CompleteAction(**OWNER, **at(4), reason="done", action_id="A1"),
    ]


def verify(**overrides: Any) -> VerifyEffectiveness:
    fields = {**AUDITOR, **at(6), "reason": "sampled 10", "result": VerificationResult.EFFECTIVE}
    return VerifyEffectiveness(**{**fields, **overrides})


def close() -> CloseCapa:
    return CloseCapa(**SECRETARY, **at(7), reason="verified effective")


def closed_history() -> list[Any]:
    _, events = given(*completed(), verify(), close())
    return events


def state_of(events: list[Any]) -> CapaState:
    state = fold(events)
    assert state is not None
    return state


# The state hash.


def test_the_state_hash_survives_the_wire_and_moves_with_every_change() -> None:
    _, events = given(*completed())
    state = state_of(events)
    replayed = [from_kafka_value(to_kafka_record(e).value) for e in events]
    assert state_hash(state_of(replayed)) == state_hash(state)
    assert state_hash(replace(state, version=state.version + 1)) != state_hash(state)
    assert state_hash(replace(state, description="other")) != state_hash(state)


# decide: the signature's binding to the state, the decider and the meaning.


def test_a_closure_signed_over_a_stale_state_is_refused_with_the_current_hash() -> None:
    _, before = given(*completed())
    stale_view = state_of(before)
    _, events = given(*completed(), verify())
    current = state_of(events)
    closure = signed(close(), stale_view)  # signed before the verification was recorded
    with pytest.raises(StaleSignature) as refused:
        decide(replace(closure, expected_version=current.version), current)
    assert refused.value.current == state_hash(current)
    assert refused.value.signed == state_hash(stale_view)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signature": None}, "signature"),
        ({"actor_id": "leader-01", "actor_role": "leader"}, "signature.signer_id"),
        ({"result": VerificationResult.INEFFECTIVE}, "signature.meaning"),
    ],
    ids=["unsigned", "signed-by-someone-else", "wrong-meaning"],
)
def test_a_signature_that_does_not_bind_the_decision_is_refused(
    change: dict[str, Any], field: str
) -> None:
    state = state_of(given(*completed())[1])
    command = replace(signed(verify(), state), **change)
    with pytest.raises(InvalidSignature) as refused:
        decide(command, state)
    assert refused.value.field == field


def test_the_events_record_signer_meaning_time_state_hash_and_signature() -> None:
    events = closed_history()
    verified = next(e for e in events if isinstance(e, CapaEffectivenessVerified))
    closed = events[-1]
    assert isinstance(closed, CapaClosed) and closed.data.signature is not None
    assert closed.data.signature.signer_id == "secretary-01"
    assert closed.data.signature.meaning is SignatureMeaning.APPROVED_CLOSURE
    assert closed.data.signature.state_hash == state_hash(state_of(events[:-1]))
    assert verified.data.signature is not None
    assert verified.data.signature.meaning is SignatureMeaning.VERIFIED_EFFECTIVE
    # Without a verified_on, the verification is dated the day it was signed.
    assert verified.data.verified_on == (T0 + timedelta(days=6)).date()


# The service layer: the signature verifies with the signer's registered key.


async def decided(command: Any, keys: Any = KEYS) -> Any:
    _, events = given(*completed(), verify())
    store = MemoryStreams({"CAPA-1": events})
    return await handle_command(command, store, MemoryPublisher(store), keys)


def closure_over_current(private_key: Any = None, **signature_changes: Any) -> CloseCapa:
    state = state_of(given(*completed(), verify())[1])
    key = private_key or dev_private_key("secretary-01")
    command = signed_command(replace(close(), expected_version=state.version), state, key)
    assert command.signature is not None
    return replace(command, signature=command.signature.model_copy(update=signature_changes))


async def test_a_valid_closure_is_accepted_and_its_event_signed() -> None:
    reply = await decided(closure_over_current())
    assert isinstance(reply, CommandAccepted), reply
    assert reply.events[-1].data.signature is not None  # type: ignore[attr-defined]


def _tampered(value: str) -> str:
    return ("B" if value[0] == "A" else "A") + value[1:]


def _tampered_closure() -> CloseCapa:
    valid = closure_over_current()
    assert valid.signature is not None
    value = valid.signature.value
    return closure_over_current(value=("B" if value[0] == "A" else "A") + value[1:])


@pytest.mark.parametrize(
    ("closure", "keys", "field", "why"),
    [
        (_tampered_closure, KEYS, "signature.value", "does not verify"),
        (
            lambda: closure_over_current(dev_private_key("auditor-0009")),
            KEYS,
            "signature.value",
            "does not verify",
        ),
        (closure_over_current, Ed25519Keys({}), "signature.signer_id", "no signing key"),
    ],
    ids=["tampered", "another-users-key", "no-registered-key"],
)
async def test_a_signature_the_registered_key_does_not_verify_is_refused(
    closure: Any, keys: Any, field: str, why: str
) -> None:
    reply = await decided(closure(), keys)
    assert isinstance(reply, CommandRefused) and reply.kind == "invalid_signature"
    assert reply.field == field and why in reply.detail


async def test_a_decision_changed_after_signing_is_refused() -> None:
    closure = replace(closure_over_current(), reason="closed without review")
    reply = await decided(closure)
    assert isinstance(reply, CommandRefused) and reply.field == "signature.value"


# Offline verification of a history.


def test_a_signed_history_verifies_offline() -> None:
    checks = check_signatures(closed_history(), KEYS)
    assert [(c.sequence, c.meaning, c.ok) for c in checks] == [
        (6, "verified_effective", True),
        (7, "approved_closure", True),
    ]


def _mutated(events: list[Any], index: int, **data: Any) -> list[Any]:
    raw = event_to_json(events[index])
    raw["data"].update(data)
    return [*events[:index], from_kafka_value(json.dumps(raw).encode()), *events[index + 1 :]]


def test_a_mutated_earlier_event_breaks_the_state_hash_of_the_signatures_after_it() -> None:
    events = _mutated(closed_history(), 2, text="a friendlier root cause")
    checks = check_signatures(events, KEYS)
    assert [c.fault.field if c.fault else None for c in checks] == [
        "signature.state_hash",
        "signature.state_hash",
    ]


def test_a_mutated_decision_event_breaks_its_signature() -> None:
    events = _mutated(closed_history(), 5, evidence=["invented:1"])
    checks = check_signatures(events, KEYS)
    assert checks[0].fault is not None and checks[0].fault.field == "signature.value"
    assert checks[1].fault is not None and checks[1].fault.field == "signature.state_hash"


def test_an_unsigned_decision_is_reported() -> None:
    events = _mutated(closed_history(), 6, signature=None)
    faults = [c.fault for c in check_signatures(events, KEYS)]
    assert faults[0] is None and faults[1] is not None and faults[1].field == "signature"


# The command line: sign, then verify a history file.


def test_qms_capa_sign_prints_a_body_the_service_accepts(tmp_path: Path) -> None:
    state = state_of(given(*completed(), verify())[1])
    body = {"expected_version": state.version, "reason": "verified effective"}
    result = CliRunner().invoke(
        capa_cli,
        [
            "sign",
            "--capa-id=CAPA-1",
            f"--state-hash={state_hash(state)}",
            "--decision=closure",
            f"--body={json.dumps(body)}",
            "--signer=secretary-01",
            "--dev-key",
            f"--signed-at={(T0 + timedelta(days=7)).isoformat()}",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    from services.capa.entrypoints.api_models import ClosureBody

    model = ClosureBody.model_validate(printed)
    command = replace(close(), expected_version=state.version, signature=model.signature.contract())
    events = [*given(*completed(), verify())[1], *decide(command, state)]
    assert all(c.ok for c in check_signatures(events, KEYS))


def test_qms_capa_verify_signatures_names_what_failed(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    good = {"history": [event_to_json(e) for e in closed_history()]}
    history.write_text(json.dumps(good, default=str))
    command = ["verify-signatures", f"--history-file={history}", f"--users-file={DEV_USERS_FILE}"]
    ok = CliRunner().invoke(capa_cli, command)
    assert ok.exit_code == 0, ok.output
    good["history"][6]["data"]["reason"] = "closed without review"
    history.write_text(json.dumps(good, default=str))
    refused = CliRunner().invoke(capa_cli, command)
    assert refused.exit_code == 1
    report = json.loads(refused.output)
    assert [c["field"] for c in report["checks"]] == [None, "signature.value"]


# The users file.


def test_development_signing_keys_are_refused_in_production(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n  - user_id: secretary-99\n    role: iso_secretary\n    agencies: ['*']\n"
        f"    token_sha256: {'a' * 64}\n    signing_key: {dev_public_key('secretary-01')}\n"
    )
    assert load_user_entries(users, Environment.DEVELOPMENT)[0].signing_key
    with pytest.raises(ValueError, match="development signing keys refused"):
        load_user_entries(users, Environment.PRODUCTION)


def test_every_dev_signer_of_the_users_file_has_its_derived_key() -> None:
    for user_id in ("secretary-01", "auditor-0009", "leader-01"):
        signer = DecisionSigner.dev(user_id)
        assert KEYS.verify(user_id, b"m", signer.private_key.sign(b"m"))
