"""Internal audits (provincial departments) and inspections (communes) with their findings.

Every agency is audited or inspected once in the window, as a province's annual ISO
programme covers all of them; a few departments also get the certification body's
external surveillance audit.
"""

from __future__ import annotations

from schemas.audit import (
    AuditClosed,
    AuditConducted,
    AuditFindingRecorded,
    AuditKind,
    AuditPlanned,
    FindingClassification,
)
from schemas.envelope import CloudEvent
from services.demo.domain.catalogue import PROCEDURES_BY_CODE, Agency, Level
from services.demo.domain.world import DAY, ISO_SECRETARIAT, World

EXTERNAL_AUDIT_RATE = 0.2
ON_SITE_RATE = {
    AuditKind.INTERNAL_AUDIT: 0.9,
    AuditKind.EXTERNAL_AUDIT: 1.0,
    AuditKind.INSPECTION: 0.7,
}
FINDINGS_PER_AUDIT = (0, 1, 2, 3, 4)
FINDINGS_WEIGHTS = (25, 30, 25, 12, 8)
CLASSIFICATIONS = tuple(FindingClassification)  # major, minor, observation, improvement
CLASSIFICATION_WEIGHTS = (4, 30, 40, 26)

# (process, ISO 9001:2015 clause); "" stands for the agency's own procedure handling.
PROCESSES = (
    ("Kiểm soát thông tin dạng văn bản", "7.5.3"),
    ("", "8.5.1"),
    ("", "8.5.1"),
    ("Theo dõi, đo lường, phân tích và đánh giá", "9.1.1"),
    ("Sự thỏa mãn của người dân, tổ chức", "9.1.2"),
    ("Đánh giá nội bộ", "9.2"),
    ("Xem xét của lãnh đạo", "9.3"),
    ("Sự không phù hợp và hành động khắc phục", "10.2"),
    ("Năng lực của công chức", "7.2"),
    ("Kiểm soát đầu ra không phù hợp", "8.7"),
    ("Mục tiêu chất lượng", "6.2"),
    ("Hành động giải quyết rủi ro và cơ hội", "6.1"),
)
DESCRIPTIONS = {
    FindingClassification.MAJOR: "Không thực hiện kiểm soát theo quy trình đã ban hành; "
    "nhiều hồ sơ không có phiếu kiểm soát quá trình",
    FindingClassification.MINOR: "Một số hồ sơ thiếu bằng chứng thực hiện theo quy trình",
    FindingClassification.OBSERVATION: "Cần theo dõi thêm việc cập nhật biểu mẫu",
    FindingClassification.IMPROVEMENT: "Có thể số hóa thêm bước lưu trữ hồ sơ",
}


def audit_agency(world: World, agency: Agency, first_day: int, last_day: int) -> None:
    """Plan and carry out this agency's audit(s) somewhere in [first_day, last_day)."""
    rng = world.rng
    kinds = [AuditKind.INTERNAL_AUDIT if agency.level is Level.PROVINCE else AuditKind.INSPECTION]
    if agency.level is Level.PROVINCE and rng.random() < EXTERNAL_AUDIT_RATE:
        kinds.append(AuditKind.EXTERNAL_AUDIT)
    for kind in kinds:
        planned_day = rng.randrange(first_day, max(first_day + 1, last_day))
        _one_audit(world, agency, kind, planned_day)


def _one_audit(world: World, agency: Agency, kind: AuditKind, planned_day: int) -> None:
    rng, cal = world.rng, world.calendar
    subject = world.hex_id("aud")
    on_site = rng.random() < ON_SITE_RATE[kind]
    lead = world.hex_id("auditor", 32)
    auditors = [lead] + [world.hex_id("auditor", 32) for _ in range(rng.randint(0, 2))]

    def emit(model: type[CloudEvent], minute: int, data: dict[str, object]) -> None:
        world.emit(
            model, source=ISO_SECRETARIAT, subject=subject, agency=agency.code, minute=minute,
            data={"kind": kind, "audited_agency": agency.code, **data},
        )  # fmt: skip

    planned = planned_day * DAY + rng.randint(0, DAY // 2)
    conducted_day = planned_day + rng.randint(5, 15)
    emit(
        AuditPlanned,
        planned,
        {
            "planned_on": cal.day(conducted_day),
            "on_site": on_site,
            "scope": "Hệ thống quản lý chất lượng theo TCVN ISO 9001:2015 và việc giải quyết "
            "thủ tục hành chính",
            "lead_auditor_id": lead,
        },
    )
    conducted = conducted_day * DAY + rng.randint(DAY // 2, DAY - 60)
    emit(AuditConducted, conducted, {"on_site": on_site, "auditor_ids": auditors})
    count = rng.choices(FINDINGS_PER_AUDIT, weights=FINDINGS_WEIGHTS)[0]
    for number in range(1, count + 1):
        classification = rng.choices(CLASSIFICATIONS, weights=CLASSIFICATION_WEIGHTS)[0]
        process, clause = rng.choice(PROCESSES)
        procedure_code: str | None = None
        if not process:
            procedure_code = rng.choice(agency.procedure_codes)
            process = f"Giải quyết TTHC: {PROCEDURES_BY_CODE[procedure_code].name}"[:200]
        emit(
            AuditFindingRecorded,
            conducted + number,
            {
                "finding_id": f"{subject}-F{number}",
                "classification": classification,
                "iso_clause": clause,
                "process": process,
                "procedure_code": procedure_code,
                "description": DESCRIPTIONS[classification],
                "auditor_id": rng.choice(auditors),
            },
        )
    closed = (conducted_day + rng.randint(2, 8)) * DAY + rng.randint(0, DAY - 1)
    emit(AuditClosed, closed, {"findings": count})
