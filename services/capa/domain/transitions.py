"""The CAPA life cycle in one table: which commands each status admits, and who may give them.

    opened ─▶ correction_recorded ─▶ root_cause_recorded ─▶ actions_planned ─▶ actions_completed
       └──────────────(correction is optional)──┘                                   │
                                                             verify_effectiveness ◀─┘
                             effective ─▶ verified_effective ─▶ closed
                             ineffective ─▶ reopened ─▶ (root cause again) / new plan
    cancel (ISO secretary, justified) from any status before verified_effective.

Overdue is not a status: it is derived from the due dates (`state.overdue_since`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    OPENED = "opened"
    CORRECTION_RECORDED = "correction_recorded"
    ROOT_CAUSE_RECORDED = "root_cause_recorded"
    ACTIONS_PLANNED = "actions_planned"
    ACTIONS_COMPLETED = "actions_completed"
    VERIFIED_EFFECTIVE = "verified_effective"
    REOPENED = "reopened"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class CommandName(StrEnum):
    OPEN_CAPA = "open_capa"
    RECORD_CORRECTION = "record_correction"
    RECORD_ROOT_CAUSE = "record_root_cause"
    PLAN_ACTIONS = "plan_actions"
    COMPLETE_ACTION = "complete_action"
    VERIFY_EFFECTIVENESS = "verify_effectiveness"
    CLOSE = "close"
    CANCEL = "cancel"
    ESCALATE = "escalate"
    FLAG_RECURRENCE = "flag_recurrence"


class Role(StrEnum):
    CAPA_OWNER = "capa_owner"
    ISO_SECRETARY = "iso_secretary"
    AUDITOR = "auditor"
    LEADER = "leader"
    VIEWER = "viewer"
    SYSTEM = "system"


_C = CommandName

# The life cycle. A command not listed for the current status is refused with this list.
TRANSITIONS: Mapping[Status, frozenset[CommandName]] = {
    Status.OPENED: frozenset({_C.RECORD_CORRECTION, _C.RECORD_ROOT_CAUSE, _C.CANCEL}),
    Status.CORRECTION_RECORDED: frozenset({_C.RECORD_ROOT_CAUSE, _C.CANCEL}),
    Status.ROOT_CAUSE_RECORDED: frozenset({_C.PLAN_ACTIONS, _C.CANCEL}),
    Status.ACTIONS_PLANNED: frozenset({_C.COMPLETE_ACTION, _C.CANCEL}),
    Status.ACTIONS_COMPLETED: frozenset({_C.VERIFY_EFFECTIVENESS, _C.CANCEL}),
    Status.VERIFIED_EFFECTIVE: frozenset({_C.CLOSE}),
    Status.REOPENED: frozenset({_C.RECORD_ROOT_CAUSE, _C.PLAN_ACTIONS, _C.CANCEL}),
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}

# Facts the system records whatever the status (each is a no-op where it does not apply):
# another occurrence of the nonconformity, an escalation, a recurrence.
SYSTEM_COMMANDS: frozenset[CommandName] = frozenset({_C.OPEN_CAPA, _C.ESCALATE, _C.FLAG_RECURRENCE})

# Who may give each command. Verification is by someone other than the implementers,
# which `decide` checks against the action owners.
PERMITTED_ROLES: Mapping[CommandName, frozenset[Role]] = {
    _C.OPEN_CAPA: frozenset({Role.SYSTEM, Role.ISO_SECRETARY}),
    _C.RECORD_CORRECTION: frozenset({Role.CAPA_OWNER, Role.ISO_SECRETARY}),
    _C.RECORD_ROOT_CAUSE: frozenset({Role.CAPA_OWNER, Role.ISO_SECRETARY}),
    _C.PLAN_ACTIONS: frozenset({Role.CAPA_OWNER, Role.ISO_SECRETARY}),
    _C.COMPLETE_ACTION: frozenset({Role.CAPA_OWNER, Role.ISO_SECRETARY}),
    _C.VERIFY_EFFECTIVENESS: frozenset({Role.AUDITOR, Role.ISO_SECRETARY, Role.LEADER}),
    _C.CLOSE: frozenset({Role.ISO_SECRETARY, Role.LEADER}),
    _C.CANCEL: frozenset({Role.ISO_SECRETARY}),
    _C.ESCALATE: frozenset({Role.SYSTEM}),
    _C.FLAG_RECURRENCE: frozenset({Role.SYSTEM}),
}


def allowed_commands(status: Status) -> list[str]:
    """The user commands the status admits, sorted (what a refusal lists)."""
    return sorted(TRANSITIONS[status])
