"""The demo's procedure register: a repealed procedure two communes keep using, an amended
statutory time the generator applies, and exactly the handful of extended due dates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schemas.dossier import DossierReceived
from schemas.procedure import ProcedureAmended, ProcedurePublished, ProcedureRepealed
from services.demo.domain.calendar import VN_TZ
from services.demo.domain.catalogue import PROCEDURES
from services.demo.domain.province import Province, generate_province
from services.demo.domain.register import EXTENDED_DUE_DOSSIERS, STILL_USED_BY
from services.demo.domain.register_truth import fold_register
from services.demo.domain.truth import ground_truth
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit

# July–September 2026 holds a Saturday worked in exchange (22 August) and the National Day
# break: the province's due dates count the same working days as the law, so only the
# planned due dates are extended.
NOW = datetime(2026, 10, 15, 10, 0, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
def province() -> Province:
    return generate_province(4, agencies=30, dossiers=1500, months=3, now=NOW)


def test_every_procedure_is_published_and_one_is_amended_and_one_repealed(
    province: Province,
) -> None:
    published = {e.subject for e in province.events if isinstance(e, ProcedurePublished)}
    assert published == {p.code for p in PROCEDURES}
    statutory = {p.code: p.statutory_days for p in PROCEDURES}
    amendments = [e for e in province.events if isinstance(e, ProcedureAmended)]
    # The register's own amendment shortens the statutory time; document control's
    # (services/demo/domain/documents.py) gives another procedure a new legal basis only.
    (amended,) = [e for e in amendments if e.data.statutory_working_days < statutory[e.subject]]
    (new_basis,) = [e for e in amendments if e is not amended]
    assert new_basis.data.statutory_working_days == statutory[new_basis.subject]
    (repealed,) = [e for e in province.events if isinstance(e, ProcedureRepealed)]
    assert amended.data.version == 2 and new_basis.data.version == 2
    assert province.window_start.date() < repealed.data.effective_from
    assert repealed.time.date() < repealed.data.effective_from  # announced ahead


def test_after_the_repeal_only_two_communes_receive_dossiers_under_it(province: Province) -> None:
    (repeal,) = [e for e in province.events if isinstance(e, ProcedureRepealed)]
    after = [
        e
        for e in province.events
        if isinstance(e, DossierReceived)
        and e.data.procedure_code == repeal.subject
        and e.time.astimezone(VN_TZ).date() >= repeal.data.effective_from
    ]
    per_commune = {e.agencycode for e in after}
    assert len(per_commune) == STILL_USED_BY and len(after) >= 2 * STILL_USED_BY
    truth = ground_truth(province.events)
    assert truth.register is not None
    assert {reason for *_, reason in truth.register.not_in_force.values()} == {"repealed"}
    assert len(truth.register.not_in_force) == len(after)
    assert truth.expected_capas["from_procedures_not_in_force"] == len(
        {(e.agencycode, e.time.astimezone(VN_TZ).strftime("%Y-%m")) for e in after}
    )


def test_only_the_planned_due_dates_are_extended_and_the_dossier_count_is_kept(
    province: Province,
) -> None:
    truth = ground_truth(province.events)
    assert truth.register is not None
    assert len(truth.register.extended) == EXTENDED_DUE_DOSSIERS
    assert sum(1 for e in province.events if isinstance(e, DossierReceived)) == 1500


def test_an_extended_due_date_is_a_capa_link_only_once_its_dossier_is_resolved() -> None:
    ict = timezone(timedelta(hours=7))
    received_at = datetime(2026, 3, 10, 9, tzinfo=ict)
    published = f.procedure_version(
        "1.000001", 1, datetime(2025, 12, 1, tzinfo=ict), "2026-01-01", 7
    )
    extended_due = received_at + timedelta(days=20)  # far beyond 7 working days
    events = [
        published,
        f.received("D1", "H56.01", received_at, extended_due, procedure="1.000001"),
        f.received("D2", "H56.01", received_at, extended_due, procedure="1.000001"),
        f.resolved("D2", "H56.01", received_at, received_at + timedelta(days=5), extended_due,
                   "1.000001"),
    ]  # fmt: skip
    truth = fold_register(events)
    assert set(truth.extended) == {"D1", "D2"}  # the KPI counts the extension as it stands
    assert truth.capa_groups()["extended_due_dates"] == {("H56.01", "1.000001", "2026-03"): ["D2"]}
