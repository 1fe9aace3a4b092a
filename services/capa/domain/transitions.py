"""The CAPA life cycle in one table: which commands each status admits, where each leads,
and who may give them (ISO 9001:2015 §10.2).

    opened ─▶ correction_recorded ─▶ root_cause_recorded ─▶ actions_planned ─▶ actions_completed
       └──────────────(correction is optional)──┘                                   │
                                                             verify_effectiveness ◀─┘
                             effective ─▶ verified_effective ─▶ closed
                             ineffective ─▶ reopened ─▶ (root cause again) / new plan
    cancel (ISO secretary, justified) from any status before verified_effective.
    record_effectiveness_measurement (system) once the actions are done: ineffective by
    measurement may reopen (actions_completed, verified_effective); a closed CAPA stays closed.

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
    RECORD_EFFECTIVENESS_MEASUREMENT = "record_effectiveness_measurement"


class Role(StrEnum):
    CAPA_OWNER = "capa_owner"
    ISO_SECRETARY = "iso_secretary"
    AUDITOR = "auditor"
    LEADER = "leader"
    VIEWER = "viewer"
    SYSTEM = "system"


_C = CommandName
_S = Status

# The life cycle, the one table: per status, the commands it admits and the statuses each
# may lead to. A command not listed for the current status is refused with this list;
# `evolve` takes every status change from here (`next_status`). Three commands have two
# outcomes: completing an action leaves the plan open until the last one is done, a
# verification is either effective or reopens the CAPA, and so may a measurement.
TRANSITIONS: Mapping[Status, Mapping[CommandName, frozenset[Status]]] = {
    _S.OPENED: {
        _C.RECORD_CORRECTION: frozenset({_S.CORRECTION_RECORDED}),
        _C.RECORD_ROOT_CAUSE: frozenset({_S.ROOT_CAUSE_RECORDED}),
        _C.CANCEL: frozenset({_S.CANCELLED}),
    },
    _S.CORRECTION_RECORDED: {
        _C.RECORD_ROOT_CAUSE: frozenset({_S.ROOT_CAUSE_RECORDED}),
        _C.CANCEL: frozenset({_S.CANCELLED}),
    },
    _S.ROOT_CAUSE_RECORDED: {
        _C.PLAN_ACTIONS: frozenset({_S.ACTIONS_PLANNED}),
        _C.CANCEL: frozenset({_S.CANCELLED}),
    },
    _S.ACTIONS_PLANNED: {
        _C.COMPLETE_ACTION: frozenset({_S.ACTIONS_PLANNED, _S.ACTIONS_COMPLETED}),
        _C.CANCEL: frozenset({_S.CANCELLED}),
    },
    _S.ACTIONS_COMPLETED: {
        _C.VERIFY_EFFECTIVENESS: frozenset({_S.VERIFIED_EFFECTIVE, _S.REOPENED}),
        _C.CANCEL: frozenset({_S.CANCELLED}),
        _C.RECORD_EFFECTIVENESS_MEASUREMENT: frozenset({_S.ACTIONS_COMPLETED, _S.REOPENED}),
    },
    _S.VERIFIED_EFFECTIVE: {
        _C.CLOSE: frozenset({_S.CLOSED}),
        _C.RECORD_EFFECTIVENESS_MEASUREMENT: frozenset({_S.VERIFIED_EFFECTIVE, _S.REOPENED}),
    },
    _S.REOPENED: {
        _C.RECORD_ROOT_CAUSE: frozenset({_S.ROOT_CAUSE_RECORDED}),
        _C.PLAN_ACTIONS: frozenset({_S.ACTIONS_PLANNED}),
        _C.CANCEL: frozenset({_S.CANCELLED}),
    },
    # A closed CAPA is still measured (what happened next), but never reopened: a recurrence
    # after closure is a new nonconformity, which opens (and links) a CAPA of its own.
    _S.CLOSED: {
        _C.RECORD_EFFECTIVENESS_MEASUREMENT: frozenset({_S.CLOSED}),
    },
    _S.CANCELLED: {},
}


class UnlistedTransition(ValueError):
    """A status change the life-cycle table does not draw."""


def next_status(status: Status, command: CommandName, outcome: Status | None = None) -> Status:
    """Where `command` leads from `status`: its only target, or `outcome` among its targets."""
    targets = TRANSITIONS[status].get(command)
    if not targets:
        raise UnlistedTransition(f"{command} is not admitted in status {status}")
    if outcome is None:
        if len(targets) != 1:
            raise UnlistedTransition(
                f"{command} from {status} needs its outcome: {sorted(targets)}"
            )
        (only,) = targets
        return only
    if outcome not in targets:
        raise UnlistedTransition(f"{command} from {status} cannot lead to {outcome}")
    return outcome


# Facts the system records whatever the status (each is a no-op where it does not apply):
# another occurrence of the nonconformity, an escalation, a recurrence, a measurement (only
# where the table admits it: a measurement that comes after a reopening measures nothing).
SYSTEM_COMMANDS: frozenset[CommandName] = frozenset(
    {_C.OPEN_CAPA, _C.ESCALATE, _C.FLAG_RECURRENCE, _C.RECORD_EFFECTIVENESS_MEASUREMENT}
)

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
    _C.RECORD_EFFECTIVENESS_MEASUREMENT: frozenset({Role.SYSTEM}),
}

# Commands only the system gives (timers, checkers): never offered to a user.
_SYSTEM_ONLY: frozenset[CommandName] = frozenset(
    c for c, roles in PERMITTED_ROLES.items() if roles == {Role.SYSTEM}
)


def admits(status: Status, command: CommandName) -> bool:
    """Whether the status admits a user command (system commands are always recorded)."""
    return command in TRANSITIONS[status]


def allowed_commands(status: Status) -> list[str]:
    """The user commands the status admits, sorted (what a refusal lists)."""
    return sorted(c for c in TRANSITIONS[status] if c not in _SYSTEM_ONLY)
