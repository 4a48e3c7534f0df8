import re
import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel

from govmail.errors import BadInput
from govmail.model.profile import PROFILES_DIR, SupersededProfile, known_provinces, load_profile

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
IN_FORCE = ["bacgiang", "cantho", "danang", "hanam"]


def test_every_profile_is_listed():
    assert known_provinces() == ["bacgiang", "cantho", "cantho-2005", "danang", "hanam"]


@pytest.mark.parametrize("province", IN_FORCE)
def test_profiles_in_force_load_without_warning(province, recwarn):
    p = load_profile(province)
    assert p.province == province and not p.superseded
    assert not [w for w in recwarn if issubclass(w.category, SupersededProfile)]


def test_superseded_profile_warns_and_names_successor():
    with pytest.warns(SupersededProfile, match="use 'cantho'"):
        load_profile("cantho-2005")


def _cited(node):
    if isinstance(node, BaseModel) and set(type(node).model_fields) == {"value", "source", "note"}:
        yield node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _cited(getattr(node, name))
    elif isinstance(node, dict):
        for v in node.values():
            yield from _cited(v)


@pytest.mark.parametrize("province", IN_FORCE)
def test_every_value_cites_its_decision_and_unset_ones_say_why(province, profile):
    p = profile(province)
    for c in _cited(p):
        if c.value is None:
            assert c.note, "an unset value must name the project default or say there is none"
        else:
            assert c.source.startswith(p.decision.number)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds not beside the repository")
@pytest.mark.parametrize("province", IN_FORCE + ["cantho-2005"])
def test_profile_matches_its_seed_text(province, profile):
    p = profile(province)
    text = (SEEDS / p.decision.seed).read_text(encoding="utf-8")
    number = p.decision.number.split("/")[0]
    assert re.search(rf"\b{number}\s*/", text), "the seed is the decision the profile names"
    assert p.mail.domain.value in text
    if p.mail.webmail_host.value:
        assert p.mail.webmail_host.value in text


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds not beside the repository")
def test_numbers_read_from_the_seeds(profile):
    hanam = (SEEDS / profile("hanam").decision.seed).read_text(encoding="utf-8")
    assert "tối thiểu 02GB/hộp thư điện tử cá nhân, 10GB/hộp thư điện tử cơ quan" in hanam
    assert "tối đa 20MB" in hanam and "(!, @, #, %, $, *, &)" in hanam
    danang = (SEEDS / profile("danang").decision.seed).read_text(encoding="utf-8")
    assert "độ dài tối thiểu là 12 ký tự" in danang and "chanthurac@danang.gov.vn" in danang


# Who helps users, read in each text: the profile's value, and the words of the cited article.
SUPPORT = {
    "hanam": ("Sở Thông tin và Truyền thông", ["Sở Thông tin và Truyền thông được giao quản lý, vận hành",
                                                "8. Hỗ trợ kỹ thuật cho các cơ quan, đơn vị, cá nhân"]),
    "danang": ("Sở Thông tin và Truyền thông",
               ["đ) Trường hợp bị mất mật khẩu, phải liên lạc, thông báo ngay với Sở Thông tin và Truyền thông để được hỗ trợ"]),
    "bacgiang": ("Bộ phận quản trị Hệ thống thư điện tử công vụ tỉnh Bắc Giang",
                 ["thông báo ngay tới bộphận quản ngại trị khối hệ thống thư điện tử công vụ tỉnh Bắc Giang"]),
    "cantho": ("Sở Thông tin và Truyền thông", ["Điều 9. Trọng trách của Sở tin tức và Truyền thông",
                                                 "hộp thư điện tử, mật mã sử dụng; hỗ trợ khi tất cả sự cố"]),
    "cantho-2005": ("Trung tâm Tin học Văn phòng UBND thành phố",
                    ["2. Trung tâm Tin học Văn phòng UBND thành phố chịu trách nhiệm tổ chức quản trị kỹ thuật",
                     "hỗ trợ các thành viên khi có sự cố"]),
}


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds not beside the repository")
@pytest.mark.parametrize("province", sorted(SUPPORT))
def test_the_support_contact_is_the_one_the_text_names(province, profile):
    p = profile(province)
    text = " ".join((SEEDS / p.decision.seed).read_text(encoding="utf-8").split())
    who, words = SUPPORT[province]
    assert p.operations.support.value == who
    for phrase in words:
        assert phrase in text, phrase


@pytest.fixture
def profiles_copy(tmp_path: Path):
    for f in PROFILES_DIR.glob("*.yml"):
        shutil.copy(f, tmp_path)
    return tmp_path


def _edit(path: Path, old: str, new: str):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("old, new, message", [
    ("    users: {value: 8,", "    userz: {value: 8,", r"password.min_length.userz: unknown key"),
    ("value: 3 months, source: \"27/2023/QĐ-UBND Điều 8.2.a\"", "value: 3 monts, source: \"x\"",
     r"password.max_age.users.value: .*'3 monts' is not a duration"),
    ("value: at least 2GB,", "value: at least 2GO,", r"mailboxes.personal.quota.value: .*unknown size unit"),
    ("{value: hanam.gov.vn, source: \"27/2023/QĐ-UBND Điều 3.2\"}", "{value: hanam.gov.vn}",
     r"mail.domain: .*needs `source:`"),
    ("province: hanam", "province: hanan", r"does not match the file name"),
    ("name: Hà Nam", "name: [Hà Nam", r"not valid YAML"),
])
def test_malformed_profile_names_file_and_key(profiles_copy, old, new, message):
    _edit(profiles_copy / "hanam.yml", old, new)
    with pytest.raises(BadInput, match=message) as err:
        load_profile("hanam", profiles_copy)
    assert "hanam.yml" in str(err.value)


def test_unknown_province_suggests_the_close_one():
    with pytest.raises(BadInput, match="did you mean 'danang'"):
        load_profile("danag")
