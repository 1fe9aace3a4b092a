"""The province's administrative procedures (TTHC) and its agencies.

Procedure codes follow the national database's shape (`1.00xxxx.000.00.00.H56`); the
numbers and the mapping to departments are illustrative, the statutory processing times
(in working days) and online service levels are typical of the real procedures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PROVINCE_PREFIX = "H56"


class Level(StrEnum):
    """Which level of government an agency or a procedure belongs to."""

    PROVINCE = "province"
    COMMUNE = "commune"


@dataclass(frozen=True, slots=True)
class Procedure:
    """An administrative procedure as listed in the province's catalogue."""

    code: str
    name: str
    level: Level
    department: str  # key of the provincial department that runs it ("" for communes)
    statutory_days: int  # working days from a complete dossier to the result
    online_level: int  # 2: information and forms only, 3: partly online, 4: fully online
    steps: int  # transfers on the process control sheet
    popularity: int  # relative volume among the agency's procedures


@dataclass(frozen=True, slots=True)
class Agency:
    """A provincial department or a commune People's Committee (UBND)."""

    code: str
    name: str
    level: Level
    procedure_codes: tuple[str, ...]


def _p(
    number: str,
    name: str,
    department: str,
    days: int,
    online: int,
    steps: int = 3,
    popularity: int = 3,
) -> Procedure:
    level = Level.COMMUNE if not department else Level.PROVINCE
    prefix = "2" if level is Level.COMMUNE else "1"
    return Procedure(
        code=f"{prefix}.{number}.000.00.00.{PROVINCE_PREFIX}",
        name=name,
        level=level,
        department=department,
        statutory_days=days,
        online_level=online,
        steps=steps,
        popularity=popularity,
    )


# fmt: off
PROCEDURES: tuple[Procedure, ...] = (
    # Provincial departments (Sở, Ban, ngành)
    _p("001612", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", "tu_phap", 10, 4, 3, 6),
    _p("001785", "Cấp thẻ công chứng viên", "tu_phap", 10, 3, 3, 1),
    _p("001923", "Đăng ký thành lập doanh nghiệp tư nhân", "khdt", 3, 4, 2, 6),
    _p("001944", "Đăng ký thay đổi nội dung đăng ký doanh nghiệp", "khdt", 3, 4, 2, 5),
    _p("002017", "Cấp Giấy chứng nhận đăng ký đầu tư", "khdt", 15, 3, 4, 1),
    _p("002135", "Cấp giấy phép xây dựng mới đối với công trình cấp I, II", "xay_dung",
       20, 3, 4, 2),
    _p("002206", "Cấp chứng chỉ hành nghề hoạt động xây dựng hạng II, III", "xay_dung",
       20, 3, 3, 2),
    _p("002311", "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
       "tnmt", 10, 3, 4, 6),
    _p("002342", "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu", "tnmt", 30, 3, 4, 3),
    _p("002389", "Cấp giấy phép khai thác, sử dụng nước dưới đất", "tnmt", 30, 2, 4, 1),
    _p("002455", "Đổi giấy phép lái xe do ngành Giao thông vận tải cấp", "gtvt", 5, 4, 2, 8),
    _p("002478", "Cấp Giấy phép kinh doanh vận tải bằng xe ô tô", "gtvt", 5, 4, 3, 2),
    _p("002561", "Cấp chứng chỉ hành nghề dược", "y_te", 20, 3, 3, 2),
    _p("002590", "Cấp Giấy chứng nhận đủ điều kiện kinh doanh dược", "y_te", 30, 3, 4, 1),
    _p("002634", "Chỉnh sửa nội dung văn bằng, chứng chỉ", "gd_dt", 5, 3, 2, 1),
    _p("002657", "Cấp bản sao văn bằng, chứng chỉ từ sổ gốc", "gd_dt", 1, 4, 2, 3),
    _p("002712", "Cấp giấy phép lao động cho người lao động nước ngoài", "ldtbxh", 5, 4, 3, 3),
    _p("002748", "Giải quyết hưởng trợ cấp thất nghiệp", "ldtbxh", 20, 3, 3, 4),
    _p("002803", "Cấp Giấy phép bán lẻ sản phẩm rượu", "cong_thuong", 10, 4, 3, 2),
    _p("002826", "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "cong_thuong", 20, 3,
       4, 2),
    _p("002911", "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm nông lâm thủy sản",
       "nn_ptnt", 15, 3, 4, 2),
    _p("002938", "Cấp chứng chỉ hành nghề thú y", "nn_ptnt", 5, 3, 2, 1),
    _p("003015", "Thẩm định hồ sơ đề nghị thành lập hội", "noi_vu", 30, 2, 4, 1),
    _p("003102", "Cấp mã số đơn vị có quan hệ với ngân sách", "tai_chinh", 2, 4, 2, 3),
    _p("003207", "Cấp giấy phép tổ chức biểu diễn nghệ thuật", "vhttdl", 5, 4, 3, 2),
    _p("003229", "Công nhận điểm du lịch", "vhttdl", 30, 2, 4, 1),
    _p("003316", "Cấp giấy phép xuất bản bản tin", "tttt", 10, 4, 3, 1),
    _p("003404", "Cấp Giấy chứng nhận đăng ký hoạt động khoa học và công nghệ", "khcn", 15, 3, 3,
       1),
    _p("003511", "Cho phép tổ chức hội nghị, hội thảo quốc tế", "ngoai_vu", 15, 3, 3, 1),
    _p("003620", "Cấp Giấy chứng nhận đăng ký đầu tư trong khu công nghiệp", "bqlkcn", 15, 3, 4,
       2),
    _p("003718", "Giải quyết khiếu nại lần đầu", "thanh_tra", 30, 2, 4, 1),
    _p("003805", "Cấp thẻ đi lại của doanh nhân APEC", "vp_ubnd", 15, 3, 3, 2),
    _p("003912", "Công nhận người có uy tín trong đồng bào dân tộc thiểu số", "dan_toc", 10, 2,
       3, 1),
    # Commune People's Committees (UBND xã, phường)
    _p("000894", "Đăng ký khai sinh", "", 1, 4, 2, 10),
    _p("000888", "Đăng ký kết hôn", "", 3, 4, 2, 5),
    _p("000889", "Đăng ký khai tử", "", 1, 4, 2, 3),
    _p("000908", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", "", 1, 3, 2, 12),
    _p("000913", "Chứng thực chữ ký trong các giấy tờ, văn bản", "", 1, 3, 2, 5),
    _p("000927", "Cấp bản sao trích lục hộ tịch", "", 1, 4, 2, 4),
    _p("000935", "Xác nhận tình trạng hôn nhân", "", 3, 4, 2, 5),
    _p("000946", "Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch", "", 3, 4, 3, 2),
    _p("000953", "Đăng ký giám hộ", "", 3, 3, 2, 1),
    _p("000971", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội", "", 5, 3, 3, 1),
    _p("000988", "Hòa giải tranh chấp đất đai tại Ủy ban nhân dân cấp xã", "", 30, 2, 4, 1),
)
# fmt: on

# Key, name; codes H56.01 ... in this order.
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("tu_phap", "Sở Tư pháp"),
    ("khdt", "Sở Kế hoạch và Đầu tư"),
    ("xay_dung", "Sở Xây dựng"),
    ("tnmt", "Sở Tài nguyên và Môi trường"),
    ("gtvt", "Sở Giao thông vận tải"),
    ("y_te", "Sở Y tế"),
    ("gd_dt", "Sở Giáo dục và Đào tạo"),
    ("ldtbxh", "Sở Lao động - Thương binh và Xã hội"),
    ("cong_thuong", "Sở Công Thương"),
    ("nn_ptnt", "Sở Nông nghiệp và Phát triển nông thôn"),
    ("noi_vu", "Sở Nội vụ"),
    ("tai_chinh", "Sở Tài chính"),
    ("vhttdl", "Sở Văn hóa, Thể thao và Du lịch"),
    ("tttt", "Sở Thông tin và Truyền thông"),
    ("khcn", "Sở Khoa học và Công nghệ"),
    ("ngoai_vu", "Sở Ngoại vụ"),
    ("bqlkcn", "Ban Quản lý các khu công nghiệp"),
    ("thanh_tra", "Thanh tra tỉnh"),
    ("vp_ubnd", "Văn phòng UBND tỉnh"),
    ("dan_toc", "Ban Dân tộc tỉnh"),
)

_PLACE_WORDS = (
    "An", "Bình", "Hòa", "Phú", "Tân", "Thạnh", "Long", "Phước", "Mỹ", "Đông",
    "Tây", "Nam", "Bắc", "Vĩnh", "Hưng", "Thuận", "Lộc", "Quang", "Thành", "Xuân",
)  # fmt: skip


def department_count(agencies: int) -> int:
    """How many of `agencies` are provincial departments (the rest are communes)."""
    return max(1, min(len(DEPARTMENTS), agencies // 5))


def build_agencies(agencies: int) -> list[Agency]:
    """Provincial departments H56.01 ... then communes H56.101, H56.102, ..."""
    if agencies < 1:
        raise ValueError("a province needs at least one agency")
    departments = department_count(agencies)
    built: list[Agency] = []
    for index in range(departments):
        key, name = DEPARTMENTS[index]
        codes = tuple(p.code for p in PROCEDURES if p.department == key)
        built.append(Agency(f"{PROVINCE_PREFIX}.{index + 1:02d}", name, Level.PROVINCE, codes))
    commune_codes = tuple(p.code for p in PROCEDURES if p.level is Level.COMMUNE)
    for index in range(agencies - departments):
        first = _PLACE_WORDS[index % len(_PLACE_WORDS)]
        second = _PLACE_WORDS[(index // len(_PLACE_WORDS) + index + 7) % len(_PLACE_WORDS)]
        kind = "phường" if index % 5 == 0 else "xã"
        built.append(
            Agency(
                f"{PROVINCE_PREFIX}.{101 + index}",
                f"UBND {kind} {first} {second}",
                Level.COMMUNE,
                commune_codes,
            )
        )
    return built


PROCEDURES_BY_CODE = {p.code: p for p in PROCEDURES}
