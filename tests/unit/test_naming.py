import datetime as dt

import unicodedata

import pytest

from govmail.errors import BadInput, OperatorChoice
from govmail.model import naming
from govmail.model.naming import Request, fold


@pytest.fixture
def suggest(profile):
    def _suggest(province, kind, name, taken=(), same=(), **kw):
        p = profile(province)
        return naming.suggest(p.naming, p.mail.domain.value, Request(kind, name, **kw), taken, same)
    return _suggest


def test_fold_removes_accents_and_d():
    assert fold("Nguyễn Thị Thanh Hà") == "nguyen thi thanh ha"
    assert fold("Đặng Đức Ưng") == "dang duc ung"


# Every naming example in the seed texts, with the article it comes from.
SEED_EXAMPLES = [
    ("cantho", "person", "Nguyễn Văn Minh", {}, [], "nvminh@cantho.gov.vn"),                  # 4.2.c
    ("cantho", "person", "Nguyễn Văn Minh", {}, ["nvminh"], "nvanminh@cantho.gov.vn"),        # 4.2.d
    ("cantho", "agency", "Sở Nội vụ", {}, [], "sonv@cantho.gov.vn"),                          # 4.2.a
    ("cantho", "agency", "Sở Ngoại vụ", {}, ["sonv"], "songoaivu@cantho.gov.vn"),             # 4.2.a
    ("cantho", "unit", "Văn phòng", {"agency": "Sở Kế hoạch và Đầu tư"}, [], "vanphong.sokhdt@cantho.gov.vn"),
    ("hanam", "agency", "Sở Thông tin và Truyền thông", {}, [], "stttt@hanam.gov.vn"),        # 5.1.a
    ("hanam", "agency", "Ủy ban nhân dân huyện Kim Bảng", {}, [], "ubndkb@hanam.gov.vn"),     # 5.1.b
    ("hanam", "agency", "Ủy ban nhân dân xã Tiên Sơn, thị xã Duy Tiên", {}, [],
     "ubndtienson.dt@hanam.gov.vn"),                                                         # 5.1.c
    ("hanam", "unit", "Phòng Thông tin - Báo chí - Xuất bản", {"agency": "Sở Thông tin và Truyền thông"}, [],
     "pttbcxb.stttt@hanam.gov.vn"),                                                          # 5.1.d
    ("hanam", "unit", "Phòng Tư pháp", {"agency": "Ủy ban nhân dân huyện Bình Lục"}, [], "ptp.bl@hanam.gov.vn"),
    ("hanam", "person", "Nguyễn Thị Thanh Hà", {}, [], "nguyenthithanhha@hanam.gov.vn"),     # 5.2.a
    ("hanam", "person", "Nguyễn Văn Hùng", {"agency": "Sở Lao động - Thương binh và Xã hội"}, ["nguyenvanhung"],
     "nguyenvanhung.ld@hanam.gov.vn"),                                                       # 5.2.b
    ("hanam", "person", "Nguyễn Văn Nam", {"agency": "Ủy ban nhân dân xã Thanh Hà, huyện Thanh Liêm"},
     ["nguyenvannam"], "nguyenvannam.tl@hanam.gov.vn"),                                      # 5.2.b
    ("danang", "agency", "Sở Thông tin và Truyền thông", {}, [], "stttt@danang.gov.vn"),      # 3.1
    ("danang", "unit", "Phòng Công nghệ thông tin", {}, [], "cntt@danang.gov.vn"),            # 3.1
    ("danang", "unit", "Phòng Thanh tra", {"agency": "Sở Thông tin và Truyền thông"}, ["tt"],
     "thanhtra-stttt@danang.gov.vn"),                                                        # 3.1
    ("danang", "person", "Nguyễn Văn Dũng", {}, [], "dungnv@danang.gov.vn"),                  # 3.2
    ("danang", "person", "Ngô Văn Dũng", {}, ["dungnv"], "dungnv1@danang.gov.vn"),            # 3.3.a
    ("danang", "person", "Nguyễn Văn Dũng", {}, ["dungnv"], "dungnv1@danang.gov.vn"),         # 3.3.a
]


@pytest.mark.parametrize("province, kind, name, extra, taken, expected", SEED_EXAMPLES)
def test_seed_examples(suggest, province, kind, name, extra, taken, expected):
    assert suggest(province, kind, name, taken, **extra).address == expected


def test_cantho_third_form_is_the_documented_choice_and_fourth_goes_to_the_operator(suggest):
    third = suggest("cantho", "person", "Nguyễn Văn Minh", ["nvminh", "nvanminh"])
    assert third.local_part == "nguyenvanminh" and third.rule == "full"
    with pytest.raises(OperatorChoice) as err:
        suggest("cantho", "person", "Nguyễn Văn Minh", ["nvminh", "nvanminh", "nguyenvanminh"])
    assert err.value.tried == ["nvminh", "nvanminh", "nguyenvanminh"]
    assert "4.2.d" in str(err.value)


def test_several_middle_names(suggest):
    assert suggest("cantho", "person", "Tôn Nữ Thị Ngọc Lan").local_part == "tntnlan"
    assert suggest("cantho", "person", "Tôn Nữ Thị Ngọc Lan", ["tntnlan"]).local_part == "tnuthingoclan"
    assert suggest("danang", "person", "Tôn Nữ Thị Ngọc Lan").local_part == "lantntn"


def test_two_word_and_one_word_names(suggest):
    assert suggest("cantho", "person", "Lê Hà").local_part == "lha"
    assert suggest("danang", "person", "Lê Hà").local_part == "hal"
    assert suggest("hanam", "person", "Hà").local_part == "ha"


def test_danang_numbers_keep_counting(suggest):
    taken = ["dungnv"] + [f"dungnv{n}" for n in range(1, 12)]
    assert suggest("danang", "person", "Nguyễn Văn Dũng", taken).local_part == "dungnv12"


def test_hanam_same_agency_uses_birth_date_or_asks(suggest):
    birth = dt.date(1985, 3, 12)
    got = suggest("hanam", "person", "Nguyễn Văn Hùng", same=["nguyenvanhung"], birth_date=birth,
                  agency="Sở Tài chính")
    assert got.local_part == "nguyenvanhung12031985" and "5.2.c" in got.source
    with pytest.raises(OperatorChoice, match="5.2.c"):
        suggest("hanam", "person", "Nguyễn Văn Hùng", same=["nguyenvanhung"], agency="Sở Tài chính")


def test_hanam_other_agency_clash_needs_the_agency(suggest):
    with pytest.raises(BadInput, match="--agency"):
        suggest("hanam", "person", "Nguyễn Văn Hùng", ["nguyenvanhung"])


def test_hanam_agency_clash_goes_to_the_operator(suggest):
    with pytest.raises(OperatorChoice):
        suggest("hanam", "agency", "Sở Thông tin và Truyền thông", ["stttt"])
    assert suggest("hanam", "agency", "Sở Thông tin và Truyền thông", ["stttt"], abbrev="sotttt").local_part == "sotttt"


def test_bacgiang_personal_format_is_lost(suggest):
    with pytest.raises(OperatorChoice, match="Điều 5"):
        suggest("bacgiang", "person", "Trần Thị Lan")
    assert suggest("bacgiang", "agency", "Sở Kế hoạch và Đầu tư").local_part == "skhdt"


def test_taken_accepts_full_addresses(suggest):
    assert suggest("danang", "person", "Nguyễn Văn Dũng", ["DungNV@danang.gov.vn"]).local_part == "dungnv1"


@pytest.mark.parametrize("name, message", [
    ("Nguyễn Văn 3", "digits"), ("Nguyễn_Văn", "characters"), ("   ", "empty"),
    ("王小明", "transliterate"), ("Nguyễn Văn Mình!", "characters"),
])
def test_bad_person_names(suggest, name, message):
    with pytest.raises(BadInput, match=message):
        suggest("hanam", "person", name)


def test_unit_without_agency_is_refused(suggest):
    with pytest.raises(BadInput, match="--agency"):
        suggest("hanam", "unit", "Phòng Tư pháp")


@pytest.mark.parametrize("province, kind, name, extra, taken, expected", SEED_EXAMPLES[:12])
def test_a_name_typed_in_decomposed_unicode_gives_the_same_address(suggest, province, kind, name, extra, taken,
                                                                   expected):
    decomposed = unicodedata.normalize("NFD", name)
    assert decomposed != name
    extra = {k: unicodedata.normalize("NFD", v) for k, v in extra.items()}
    assert suggest(province, kind, decomposed, taken, **extra).address == expected


def test_an_address_longer_than_smtp_allows_is_refused(suggest):
    # Hà Nam's full-name rule: every word of the name, so a long enough name outgrows RFC 5321's 64 octets.
    name = "Nguyễn " + " ".join(["Phương Hoàng Thiên"] * 4) + " Anh"
    with pytest.raises(BadInput, match="at most 64"):
        suggest("hanam", "person", name)
