"""Document control (ISO 9001 §7.5): documents an agency issues and its ISO process documents.

The subject is the document id the agency's document office gives it (one aggregate per
document). Administrative documents (văn bản hành chính) are issued, checked for format
conformity with the rules of Decree 30/2020/NĐ-CP (Appendix I: the layout elements every
document carries), revised and withdrawn. The agency's ISO process documents (quy trình
ISO, one per administrative procedure it handles) are published and revised; each names
its legal basis: the procedures of the register (schemas/procedure.py), in the version it
implements. When a procedure is amended, the process documents implementing it must be
revised to name the new version.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from schemas.base import Contract, Day, ProcedureCode, ShortText, StrictBool, Text
from schemas.envelope import CloudEvent


class DocumentKind(StrEnum):
    """The kinds of administrative document of Decree 30/2020/NĐ-CP, Article 7."""

    RESOLUTION = "resolution"  # nghị quyết (cá biệt)
    DECISION = "decision"  # quyết định (cá biệt)
    DIRECTIVE = "directive"  # chỉ thị
    REGULATION = "regulation"  # quy chế, quy định
    NOTICE = "notice"  # thông báo, thông cáo
    GUIDANCE = "guidance"  # hướng dẫn
    PLAN = "plan"  # chương trình, kế hoạch, phương án, đề án, dự án
    REPORT = "report"  # báo cáo
    MINUTES = "minutes"  # biên bản
    SUBMISSION = "submission"  # tờ trình
    OFFICIAL_LETTER = "official_letter"  # công văn, công điện
    OTHER = "other"  # hợp đồng, giấy mời, giấy giới thiệu, phiếu gửi, …


class FormatRule(StrEnum):
    """A layout element of Decree 30/2020/NĐ-CP (Appendix I) a document can get wrong."""

    NATIONAL_TITLE = "national_title"  # quốc hiệu và tiêu ngữ
    ISSUING_AUTHORITY = "issuing_authority"  # tên cơ quan, tổ chức ban hành
    NUMBER_AND_SYMBOL = "number_and_symbol"  # số, ký hiệu
    PLACE_AND_DATE = "place_and_date"  # địa danh và thời gian ban hành
    KIND_AND_SUMMARY = "kind_and_summary"  # tên loại và trích yếu nội dung
    CONTENT = "content"  # nội dung (bố cục, căn cứ)
    SIGNATURE = "signature"  # chức vụ, họ tên và chữ ký của người có thẩm quyền
    SEAL = "seal"  # dấu, chữ ký số của cơ quan
    RECIPIENTS = "recipients"  # nơi nhận
    TYPOGRAPHY = "typography"  # phông chữ, cỡ chữ, khổ giấy, định lề trang
    ABBREVIATIONS = "abbreviations"  # viết hoa, viết tắt


class DocumentIssuedData(Contract):
    kind: DocumentKind
    number: ShortText = Field(
        description="Number and symbol (số, ký hiệu), e.g. '123/QĐ-UBND'.",
        examples=["123/QĐ-UBND"],
    )
    title: Text = Field(description="The summary of its content (trích yếu).")
    issued_on: Day = Field(description="Date of issue written on the document (local day).")


class DocumentCheckedData(Contract):
    """The result of a format check: conforming, or the rules it breaks."""

    conforming: StrictBool
    nonconformities: list[FormatRule] = Field(
        default_factory=list,
        max_length=len(FormatRule),
        description="The rules of Decree 30/2020 the document breaks; empty when conforming.",
    )
    note: Text | None = Field(default=None, description="What exactly is wrong, in words.")

    @model_validator(mode="after")
    def _a_nonconforming_document_states_why(self) -> DocumentCheckedData:
        if not self.conforming and not self.nonconformities:
            raise ValueError("nonconformities: at least one rule when conforming is false")
        if self.conforming and self.nonconformities:
            raise ValueError("nonconformities: must be empty when conforming is true")
        if len(set(self.nonconformities)) != len(self.nonconformities):
            raise ValueError("nonconformities: each rule at most once")
        return self


class DocumentRevisedData(Contract):
    revision: int = Field(strict=True, ge=2, le=10_000, description="Revision number, from 2.")
    number: ShortText | None = Field(default=None, description="A new number, when it has one.")
    issued_on: Day = Field(description="Date of issue of the revision (local day).")
    reason: Text | None = None


class DocumentWithdrawnData(Contract):
    withdrawn_on: Day = Field(description="First day (local time) it is no longer in force.")
    reason: Text | None = None


class LegalBasisProcedure(Contract):
    """A procedure of the register, in the version a process document implements."""

    procedure_code: ProcedureCode
    version: int = Field(strict=True, ge=1, le=10_000, description="Register version.")


class ProcessDocumentData(Contract):
    """An ISO process document (quy trình) as published or revised."""

    code: ShortText = Field(description="The process's code in the agency's QMS, e.g. 'QT-07'.")
    title: Text
    revision: int = Field(strict=True, ge=1, le=10_000, description="Revision (lần ban hành).")
    issued_on: Day = Field(description="Date of issue of this revision (local day).")
    legal_basis_procedures: list[LegalBasisProcedure] = Field(
        min_length=1,
        max_length=100,
        description="The procedures of the register it implements, each in its version.",
    )

    @model_validator(mode="after")
    def _each_procedure_once(self) -> ProcessDocumentData:
        codes = [p.procedure_code for p in self.legal_basis_procedures]
        if len(set(codes)) != len(codes):
            raise ValueError("legal_basis_procedures: each procedure_code at most once")
        return self


class DocumentIssued(CloudEvent):
    """An administrative document was issued by the agency."""

    type: Literal["vn.qms.document.issued.v1"]
    data: DocumentIssuedData


class DocumentChecked(CloudEvent):
    """A document was checked for format conformity with Decree 30/2020/NĐ-CP."""

    type: Literal["vn.qms.document.checked.v1"]
    data: DocumentCheckedData


class DocumentRevised(CloudEvent):
    """A document was revised (amended or replaced by a new revision)."""

    type: Literal["vn.qms.document.revised.v1"]
    data: DocumentRevisedData


class DocumentWithdrawn(CloudEvent):
    """A document (administrative or ISO process) was withdrawn from use."""

    type: Literal["vn.qms.document.withdrawn.v1"]
    data: DocumentWithdrawnData


class ProcessDocumentPublished(CloudEvent):
    """An ISO process document was published in the agency's QMS."""

    type: Literal["vn.qms.document.process_published.v1"]
    data: ProcessDocumentData


class ProcessDocumentRevised(CloudEvent):
    """An ISO process document was revised, e.g. to follow an amended procedure."""

    type: Literal["vn.qms.document.process_revised.v1"]
    data: ProcessDocumentData


DOCUMENT_EVENTS: tuple[type[CloudEvent], ...] = (
    DocumentIssued,
    DocumentChecked,
    DocumentRevised,
    DocumentWithdrawn,
    ProcessDocumentPublished,
    ProcessDocumentRevised,
)
