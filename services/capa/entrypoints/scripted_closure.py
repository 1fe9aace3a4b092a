"""Close some open CAPAs over HTTP the way a scripted owner and verifier would.

For the demo run: the owner records a correction, a root cause and a one-action plan and
completes it; an auditor (not an implementer) verifies it effective; the ISO secretary
closes it. Every step carries the version just read and a reason; the verification and the
closure are signed by the verifier and the closer over the state just read. The demo signs
at the time of the CAPA's last step, so a run on a simulated clock (QMS_NOW) dates its
signatures, and the verification day, in that clock's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.capa.adapters.http_client import CapaApiError, CapaClient
from services.capa.adapters.signing import DecisionSigner


@dataclass(frozen=True)
class ClosureTokens:
    owner: str
    verifier: str
    closer: str


@dataclass(frozen=True)
class ClosureSigners:
    """Who signs the verification and the closure (the users of the verifier and closer tokens)."""

    verifier: DecisionSigner
    closer: DecisionSigner


DEV_TOKENS = ClosureTokens(
    owner="dev-capa-owner-all-token", verifier="dev-auditor-token", closer="dev-iso-secretary-token"
)
# Development only: the users of DEV_TOKENS' verifier and closer, with their published keys.
DEV_VERIFIER_ID = "auditor-0009"
DEV_CLOSER_ID = "secretary-01"


def dev_signers(
    verifier_id: str = DEV_VERIFIER_ID, closer_id: str = DEV_CLOSER_ID
) -> ClosureSigners:
    return ClosureSigners(DecisionSigner.dev(verifier_id), DecisionSigner.dev(closer_id))


_FINISHED = {"closed", "cancelled"}


@dataclass
class ClosureOutcome:
    considered: int = 0
    closed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "closed": len(self.closed),
            "failed": self.failed,
        }


def close_some(
    base_url: str,
    tokens: ClosureTokens = DEV_TOKENS,
    signers: ClosureSigners | None = None,
    *,
    fraction: float = 0.5,
    limit: int = 200,
    timeout_s: float = 30.0,
) -> ClosureOutcome:
    """Walk `fraction` of the open CAPAs (at most `limit`, oldest first) to closure."""
    outcome = ClosureOutcome()
    signers = signers or dev_signers()
    with (
        CapaClient(base_url, tokens.owner, timeout_s) as owner,
        CapaClient(base_url, tokens.verifier, timeout_s) as verifier,
        CapaClient(base_url, tokens.closer, timeout_s) as closer,
    ):
        open_capas = [c for c in _all(owner) if c["status"] not in _FINISHED]
        chosen = open_capas[: min(limit, math.ceil(len(open_capas) * fraction))]
        outcome.considered = len(chosen)
        for capa in chosen:
            try:
                walk_to_closure(capa, owner, verifier, closer, signers)
            except CapaApiError as exc:
                outcome.failed[capa["capa_id"]] = str(exc)
            else:
                outcome.closed.append(capa["capa_id"])
    return outcome


def _all(client: CapaClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = client.list(limit=1000, offset=len(items))
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def walk_to_closure(
    capa: dict[str, Any],
    owner: CapaClient,
    verifier: CapaClient,
    closer: CapaClient,
    signers: ClosureSigners | None = None,
) -> dict[str, Any]:
    """Drive one CAPA from wherever it stands to closed; returns the closed CAPA."""
    signers = signers or dev_signers()
    if "state_hash" not in capa:  # a list item: read the CAPA, its state hash is signed
        capa = owner.get(capa["capa_id"])["capa"]
    for _ in range(60):  # every action completion is one step; a plan has few actions
        if capa["status"] == "closed":
            return capa
        try:
            capa = _next_step(capa, owner, verifier, closer, signers)
        except CapaApiError as exc:
            if exc.status != 409:
                raise
            # The system moved the CAPA meanwhile (escalation, recurrence, a linked
            # occurrence): read it again and decide on the new version, as a person would.
            capa = owner.get(capa["capa_id"])["capa"]
    raise CapaApiError(500, {"detail": f"{capa['capa_id']} did not reach closed"})


def _next_step(
    capa: dict[str, Any],
    owner: CapaClient,
    verifier: CapaClient,
    closer: CapaClient,
    signers: ClosureSigners,
) -> dict[str, Any]:
    result = _command_for_step(capa, owner, verifier, closer, signers)
    after: dict[str, Any] = result["capa"]
    return after


def _command_for_step(
    capa: dict[str, Any],
    owner: CapaClient,
    verifier: CapaClient,
    closer: CapaClient,
    signers: ClosureSigners,
) -> dict[str, Any]:
    capa_id, status = capa["capa_id"], capa["status"]
    base = {"expected_version": capa["version"]}
    if status == "opened":
        body = {**base, "reason": "contained at once", "correction": "Affected cases corrected"}
        return owner.command(capa_id, "correction", body)
    if status == "correction_recorded":
        body = {
            **base,
            "reason": "analysed with the team",
            "method": "five_whys",
            "category": "process",
            "text": "The step had no named owner on the process control sheet",
        }
        return owner.command(capa_id, "root-cause", body)
    if status in {"root_cause_recorded", "reopened"}:
        # Two weeks after the CAPA's last step, which the service stamped by its own clock
        # (QMS_NOW), so a demo in the past plans actions due in that past too.
        due = (datetime.fromisoformat(capa["updated_at"]) + timedelta(days=14)).date().isoformat()
        action = {
            "description": "Name a step owner and retrain",
            "owner_id": capa["owner_id"],
            "due_on": due,
        }
        body = {**base, "reason": "plan agreed", "actions": [action]}
        return owner.command(capa_id, "action-plan", body)
    if status == "actions_planned":
        pending = next(a for a in capa["actions"] if a["completed_on"] is None)
        body = {**base, "reason": "done", "evidence": [f"doc:{capa_id}:{pending['action_id']}"]}
        return owner.command(capa_id, f"actions/{pending['action_id']}/completion", body)
    signed_at = datetime.fromisoformat(capa["updated_at"])
    if status == "actions_completed":
        body = {**base, "reason": "sampled the next month's cases", "result": "effective"}
        signed = signers.verifier.sign_body(capa, "verification", body, signed_at)
        return verifier.command(capa_id, "verification", signed)
    if status == "verified_effective":
        body = {**base, "reason": "verified effective"}
        return closer.command(
            capa_id, "closure", signers.closer.sign_body(capa, "closure", body, signed_at)
        )
    raise CapaApiError(422, {"detail": f"{capa_id} is {status}: nothing a script may do"})
