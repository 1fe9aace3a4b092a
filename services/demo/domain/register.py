"""The province's procedure register in the demo, and the dossiers that break it.

The register lists every procedure of the catalogue (in force since a year before the
window). Mid-window one commune procedure is repealed, yet two communes keep receiving
dossiers under it; a provincial procedure is amended with a shorter statutory time (the
generator applies the new time from its effective day); and a handful of dossiers get a due
date beyond the statutory time. Everything else is left as the generator made it, so the
rest of the province (and its ground truth) only changes by these dossiers.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

from schemas.procedure import ProcedureAmended, ProcedurePublished, ProcedureRepealed
from services.demo.domain.catalogue import PROCEDURES, PROVINCE_PREFIX, Agency, Level, Procedure
from services.demo.domain.dossiers import DossierFacts, live_dossier
from services.demo.domain.world import DAY, World

PROCEDURE_REGISTER = "urn:vn:gov:h56:procedure-register"
REGISTER_KEEPER = PROVINCE_PREFIX  # the province's People's Committee keeps its list
STILL_USED_BY = 2  # communes that keep applying the repealed procedure
DOSSIERS_UNDER_REPEALED = 2  # per such commune, after the repeal
EXTENDED_DUE_DOSSIERS = 5
EXTENDED_BY_DAYS = 5  # working days beyond the statutory time
AMENDED_TO_SHARE = 0.6  # the amended statutory time, as a share of the old one


@dataclass(frozen=True, slots=True)
class RegisterPlan:
    """What the register does during the window (days are working-day indexes)."""

    effective_from: date  # every procedure's version 1
    repealed: Procedure | None
    still_used_by: tuple[Agency, ...]
    repeal_day: int
    amended: Procedure | None
    amended_days: int
    amend_day: int

    def in_force(self, agency: Agency, procedure: Procedure, day: int) -> Procedure:
        """The procedure the generator applies for a dossier of `agency` on `day`: the
        amended statutory time once in force; after the repeal, the agencies that stopped
        using the repealed procedure receive the next one of their list instead."""
        amended, repealed = self.amended, self.repealed
        if amended is not None and procedure.code == amended.code and day >= self.amend_day:
            return replace(procedure, statutory_days=self.amended_days)
        stopped_using = agency not in self.still_used_by
        if repealed is not None and procedure.code == repealed.code and day >= self.repeal_day:
            codes = [c for c in agency.procedure_codes if c != repealed.code]
            if stopped_using and codes:
                return next(p for p in PROCEDURES if p.code == codes[day % len(codes)])
        return procedure


def plan_register(agencies: list[Agency], window_days: int, first_day: date) -> RegisterPlan:
    """The demo's register events for a window of `window_days` working days."""
    communes = [a for a in agencies if a.level is Level.COMMUNE]
    departments = [a for a in agencies if a.level is Level.PROVINCE]
    commune_procedures = [p for p in PROCEDURES if p.level is Level.COMMUNE]
    repealed = commune_procedures[0] if len(communes) >= STILL_USED_BY else None
    used = {c for a in departments for c in a.procedure_codes}
    amended = next((p for p in PROCEDURES if p.code in used and p.statutory_days >= 5), None)
    return RegisterPlan(
        effective_from=first_day - timedelta(days=365),
        repealed=repealed,
        still_used_by=tuple(communes[:STILL_USED_BY]) if repealed else (),
        repeal_day=window_days // 2,
        amended=amended,
        amended_days=max(1, int(amended.statutory_days * AMENDED_TO_SHARE)) if amended else 0,
        amend_day=window_days // 3,
    )


def publish_register(world: World, plan: RegisterPlan) -> None:
    """Every procedure at the window's start, the amendment and the repeal a week before
    they take effect."""
    for procedure in PROCEDURES:
        _version(
            world,
            ProcedurePublished,
            procedure,
            1,
            procedure.statutory_days,
            0,
            plan.effective_from,
        )
    if plan.amended is not None:
        minute = max(0, plan.amend_day - 5) * DAY + 60
        day = world.calendar.day(plan.amend_day)
        _version(world, ProcedureAmended, plan.amended, 2, plan.amended_days, minute, day)
    if plan.repealed is not None:
        world.emit(
            ProcedureRepealed,
            source=PROCEDURE_REGISTER,
            subject=plan.repealed.code,
            agency=REGISTER_KEEPER,
            minute=max(0, plan.repeal_day - 5) * DAY + 90,
            data={
                "procedure_code": plan.repealed.code,
                "effective_from": world.calendar.day(plan.repeal_day),
                "legal_basis": "QĐ 2150/QĐ-UBND",
                "reason": "Bãi bỏ theo quyết định công bố danh mục thủ tục hành chính mới",
            },
        )


def _version(
    world: World,
    model: type[ProcedurePublished] | type[ProcedureAmended],
    procedure: Procedure,
    version: int,
    statutory_days: int,
    minute: int,
    effective_from: date,
) -> None:
    world.emit(
        model,
        source=PROCEDURE_REGISTER,
        subject=procedure.code,
        agency=REGISTER_KEEPER,
        minute=minute,
        data={
            "procedure_code": procedure.code,
            "version": version,
            "name": procedure.name,
            "statutory_working_days": statutory_days,
            "effective_from": effective_from,
            "levels": [procedure.level.value],
            "legal_basis": f"QĐ {1000 + version}/QĐ-UBND",
        },
    )


def nonconforming_dossiers(
    world: World,
    plan: RegisterPlan,
    agencies: list[Agency],
    window_days: int,
    sequence: MutableMapping[tuple[int, int], int],
    budget: int,
) -> dict[str, list[DossierFacts]]:
    """The dossiers that break the register (at most `budget`): under the repealed
    procedure after the repeal (the communes that keep using it) and with a due date beyond
    the statutory time."""
    facts: dict[str, list[DossierFacts]] = {}
    made = 0

    def dossier(agency: Agency, procedure: Procedure, day: int) -> None:
        nonlocal made
        if made >= budget:
            return
        made += 1
        index = agencies.index(agency)
        sequence[index, day] += 1
        one = live_dossier(world, agency, procedure, day, sequence[index, day], 0.0)
        facts.setdefault(agency.code, []).append(one)

    if plan.repealed is not None:
        after = max(1, window_days - plan.repeal_day)
        for n, commune in enumerate(plan.still_used_by):
            for k in range(DOSSIERS_UNDER_REPEALED):
                dossier(commune, plan.repealed, plan.repeal_day + (n + 3 * k) % after)
    for n in range(EXTENDED_DUE_DOSSIERS):
        agency = agencies[n % len(agencies)]
        procedure = next(p for p in PROCEDURES if p.code == agency.procedure_codes[0])
        procedure = plan.in_force(agency, procedure, 0)
        extended = replace(procedure, statutory_days=procedure.statutory_days + EXTENDED_BY_DAYS)
        day = (7 * n + 2) % max(1, plan.amend_day)  # before any amendment takes effect
        dossier(agency, extended, day)
    return facts
