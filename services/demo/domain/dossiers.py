"""The life of one dossier on its process control sheet, and what citizens say about it.

Statutory time runs in working days: a dossier received on working day d for a procedure of
N days is due at 17:00 on working day d + N. A complete supplement restarts the count from
the day it arrives; an apology letter promises a new due time. Both move the due time in
force, which the `resolved` event carries in `data.due_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random

from schemas.complaint import (
    ComplaintAcknowledged,
    ComplaintFiled,
    ComplaintResolved,
    ComplaintWithdrawn,
)
from schemas.dossier import (
    Channel,
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierResultReturned,
    DossierStepTransferred,
    DossierSupplementReceived,
    DossierSupplementRequested,
    DossierWithdrawn,
    resolved_on_time,
)
from schemas.envelope import CloudEvent
from schemas.satisfaction import SatisfactionRated
from services.demo.domain.catalogue import Agency, Procedure
from services.demo.domain.sheets import emit_sheet
from services.demo.domain.world import (
    CITIZEN_FEEDBACK,
    DAY,
    ONE_STOP_SHOP,
    SATISFACTION_SURVEY,
    World,
)

SUPPLEMENT_RATE = 0.07
SUPPLEMENT_SUPPLIED = 0.8
UNSUPPLIED_WITHDRAWN = 0.6
WITHDRAWN_RATE = 0.01
REFUSED_RATE = 0.03
APOLOGY_RATE = 0.5
APOLOGY_KEPT = 0.6
RATING_RATE = 0.35
COMPLAINT_RATE = 0.003
LATE_COMPLAINT_RATE = 0.1
COMPLAINT_WITHDRAWN = 0.12

ONLINE_SHARE_BY_LEVEL = {4: 0.8, 3: 0.62}
POSTAL_SHARE_OFF_LINE = 0.12

SUPPLEMENT_REASONS = (
    "Thiếu bản sao giấy tờ tùy thân theo quy định",
    "Tờ khai chưa đầy đủ thông tin",
    "Thiếu văn bản xác nhận của cơ quan có thẩm quyền",
    "Bản vẽ, tài liệu kỹ thuật chưa đúng mẫu",
)
COMPLAINT_CATEGORIES = (
    "staff_attitude",
    "fee_and_charges",
    "result_error",
    "information_unclear",
    "processing_delay",
)
# Emits one event of the aggregate at hand: (event model, office minute, data).
Emit = Callable[[type[CloudEvent], int, dict[str, object]], None]

SCORES = (5, 4, 3, 2, 1)
SCORE_WEIGHTS = (70, 26, 2.5, 1, 0.5)
LATE_SCORE_WEIGHTS = (25, 40, 18, 11, 6)


@dataclass(frozen=True, slots=True)
class DossierFacts:
    """What the generator decided for one dossier (for the objectives' evaluations)."""

    agency: str
    received_minute: int
    online: bool
    resolved_minute: int | None = None
    on_time: bool | None = None
    rating_minute: int | None = None
    satisfied: bool | None = None


def _channel(rng: Random, procedure: Procedure) -> tuple[Channel, int | None]:
    if rng.random() < ONLINE_SHARE_BY_LEVEL.get(procedure.online_level, 0.0):
        return Channel.ONLINE, procedure.online_level
    if rng.random() < POSTAL_SHARE_OFF_LINE:
        return Channel.POSTAL, None
    return Channel.COUNTER, None


def _free_minutes(rng: Random, low: int, high: int, count: int, taken: set[int]) -> list[int]:
    """Up to `count` distinct minutes in [low, high), none of them already taken."""
    span = high - low
    count = min(count, max(0, span - len(taken)))
    chosen: set[int] = set()
    while len(chosen) < count:
        minute = rng.randrange(low, high)
        if minute not in taken:
            chosen.add(minute)
    return sorted(chosen)


def live_dossier(
    world: World, agency: Agency, procedure: Procedure, day: int, seq: int, late_rate: float
) -> DossierFacts:
    """Emit the events of one dossier received on working day `day`; return its facts."""
    rng, cal = world.rng, world.calendar
    days = procedure.statutory_days
    code = f"{agency.code}-{cal.day(day):%y%m%d}-{seq:04d}"
    pcode = procedure.code
    received = day * DAY + rng.randint(0, DAY - 31)
    received_at = world.at(received)
    channel, online_level = _channel(rng, procedure)
    due_day = day + days

    def emit(model: type[CloudEvent], minute: int, data: dict[str, object]) -> None:
        world.emit(
            model, source=ONE_STOP_SHOP, subject=code, agency=agency.code, minute=minute,
            data={"procedure_code": pcode, **data},
        )  # fmt: skip

    emit(
        DossierReceived,
        received,
        {
            "channel": channel,
            "online_level": online_level,
            "due_at": cal.closing_time(due_day),
            "applicant_id": world.hex_id("app"),
            "officer_id": world.officer(agency.code),
        },
    )
    taken = {received}
    start = received
    online = channel is Channel.ONLINE
    stopped: int | None = None  # minute the dossier left the process without a result

    if rng.random() < SUPPLEMENT_RATE:
        requested = received + rng.randint(30, max(60, days * DAY // 2))
        taken.add(requested)
        emit(
            DossierSupplementRequested,
            requested,
            {"reason": rng.choice(SUPPLEMENT_REASONS), "officer_id": world.officer(agency.code)},
        )
        if rng.random() < SUPPLEMENT_SUPPLIED:
            start = requested + rng.randint(DAY, 8 * DAY)
            taken.add(start)
            due_day = start // DAY + days  # statutory time counts anew
            emit(DossierSupplementReceived, start, {"new_due_at": cal.closing_time(due_day)})
        else:
            stopped = requested
            if rng.random() < UNSUPPLIED_WITHDRAWN:
                stopped = requested + rng.randint(5 * DAY, 15 * DAY)
                emit(
                    DossierWithdrawn,
                    stopped,
                    {"reason": "Người nộp không bổ sung hồ sơ theo yêu cầu"},
                )
    elif rng.random() < WITHDRAWN_RATE:
        stopped = received + rng.randint(60, days * DAY // 2 + 60)
        emit(DossierWithdrawn, stopped, {"reason": "Người nộp đề nghị rút hồ sơ"})

    def emit_step(minute: int, data: dict[str, object]) -> None:
        emit(DossierStepTransferred, minute, data)

    if stopped is not None:
        drawn = _free_minutes(rng, received + 1, stopped, 1, taken)
        emit_sheet(world, emit_step, agency, procedure, drawn, (received, stopped), taken)
        return DossierFacts(agency.code, received, online)

    last_minute_in_time = due_day * DAY + DAY - 1  # 16:59 on the due day
    late = rng.random() < late_rate
    if not late:
        resolved = rng.randint(start + 30, last_minute_in_time)
    elif rng.random() < APOLOGY_RATE:
        apology = rng.randint(max(start + 1, due_day * DAY), last_minute_in_time - 1)
        taken.add(apology)
        due_day += rng.randint(2, 10)
        emit(
            DossierApologyIssued,
            apology,
            {
                "new_due_at": cal.closing_time(due_day),
                "reason": "Hồ sơ cần xác minh thêm, cơ quan xin lỗi và hẹn lại ngày trả kết quả",
            },
        )
        if rng.random() < APOLOGY_KEPT:
            resolved = rng.randint(apology + 1, due_day * DAY + DAY - 1)
        else:
            resolved = (due_day + 1) * DAY + rng.randint(0, 8 * DAY)
    else:
        resolved = (due_day + 1) * DAY + rng.randint(0, 10 * DAY - 1)
    taken.add(resolved)
    due_at = cal.closing_time(due_day)
    on_time = resolved_on_time(world.at(resolved), due_at)

    drawn = _free_minutes(rng, received + 1, resolved, procedure.steps, taken)
    emit_sheet(world, emit_step, agency, procedure, drawn, (received, resolved), taken)
    outcome = "refused" if rng.random() < REFUSED_RATE else "approved"
    emit(
        DossierResolved,
        resolved,
        {
            "outcome": outcome,
            "received_at": received_at,
            "due_at": due_at,
            "officer_id": world.officer(agency.code),
        },
    )
    returned = resolved + rng.randint(10, 3 * DAY)
    result_channel = Channel.ONLINE if online and online_level == 4 else channel
    if result_channel is Channel.ONLINE and not online:
        result_channel = Channel.COUNTER
    emit(DossierResultReturned, returned, {"channel": result_channel})

    rating_minute: int | None = None
    satisfied: bool | None = None
    if rng.random() < RATING_RATE:
        rating_minute = returned + rng.randint(1, 120)
        weights = SCORE_WEIGHTS if on_time else LATE_SCORE_WEIGHTS
        score = rng.choices(SCORES, weights=weights)[0]
        satisfied = score >= 4
        world.emit(
            SatisfactionRated,
            source=SATISFACTION_SURVEY,
            subject=world.hex_id("rat"),
            agency=agency.code,
            minute=rating_minute,
            data={"dossier_code": code, "procedure_code": pcode, "channel": channel,
                  "score": score},
        )  # fmt: skip
    if rng.random() < (COMPLAINT_RATE if on_time else LATE_COMPLAINT_RATE):
        filed = (
            resolved + rng.randint(30, 10 * DAY)
            if on_time
            else rng.randint((due_day + 1) * DAY, resolved + 2 * DAY)
        )
        _complaint(world, agency, procedure, code, filed, on_time)
    return DossierFacts(agency.code, received, online, resolved, on_time, rating_minute, satisfied)


def _complaint(
    world: World, agency: Agency, procedure: Procedure, dossier: str, filed: int, on_time: bool
) -> None:
    """A complaint about one dossier: filed, acknowledged, then resolved or withdrawn."""
    rng = world.rng
    subject = world.hex_id("cmp")

    def emit(model: type[CloudEvent], minute: int, data: dict[str, object]) -> None:
        world.emit(
            model, source=CITIZEN_FEEDBACK, subject=subject, agency=agency.code, minute=minute,
            data=data,
        )  # fmt: skip

    kind = rng.choices(("complaint", "feedback", "petition"), weights=(70, 20, 10))[0]
    emit(
        ComplaintFiled,
        filed,
        {
            "kind": kind,
            "channel": rng.choices(list(Channel), weights=(30, 60, 10))[0],
            "category": "processing_delay" if not on_time else rng.choice(COMPLAINT_CATEGORIES),
            "procedure_code": procedure.code,
            "dossier_code": dossier,
            "complainant_id": world.hex_id("cit"),
        },
    )
    acknowledged = filed + rng.randint(30, 2 * DAY)
    emit(ComplaintAcknowledged, acknowledged, {"officer_id": world.officer(agency.code)})
    if rng.random() < COMPLAINT_WITHDRAWN:
        emit(
            ComplaintWithdrawn,
            acknowledged + rng.randint(DAY, 5 * DAY),
            {"reason": "Người phản ánh rút nội dung phản ánh"},
        )
        return
    substantiated = rng.random() < (0.3 if on_time else 0.75)
    emit(
        ComplaintResolved,
        acknowledged + rng.randint(2 * DAY, 15 * DAY),
        {
            "substantiated": substantiated,
            "resolution": (
                "Phản ánh đúng; đơn vị đã chấn chỉnh và xin lỗi người dân"
                if substantiated
                else "Phản ánh không có cơ sở; đã giải thích cho người dân"
            ),
            "officer_id": world.officer(agency.code),
            "procedure_code": procedure.code,
        },
    )
