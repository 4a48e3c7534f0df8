import pytest

from govmail.accounts import passwords
from govmail.model import settings


@pytest.mark.parametrize("province,length", [("hanam", 12), ("danang", 12), ("cantho", 12)])
def test_issued_passwords_meet_the_profile(profile, province, length):
    s = settings.build(profile(province))
    specials = {"hanam": "!@#%$*&"}.get(province)
    for _ in range(200):
        password = passwords.issue(s)
        assert len(password) == length
        assert any(c.isupper() for c in password) and any(c.islower() for c in password)
        assert any(c.isdigit() for c in password)
        punctuation = [c for c in password if not c.isalnum()]
        assert punctuation and (specials is None or all(c in specials for c in punctuation))
        assert not set(password) & set("Il1O0o")


def test_issued_passwords_differ(profile):
    s = settings.build(profile("danang"))
    assert len({passwords.issue(s) for _ in range(1000)}) == 1000


def test_personal_data_is_kept_out(profile):
    s = settings.build(profile("danang"))
    for _ in range(300):
        assert "anh" not in passwords.issue(s, ["anh", "le"]).lower()


def test_violations_name_each_problem(profile):
    policy = settings.build(profile("hanam")).policies["users"]
    assert passwords.violations(policy, "abc", 8) == ["shorter than 8 characters", "no upper character",
                                                      "no digit character", "no special character"]
    assert passwords.violations(policy, "Lan@2026lan", 8, ["lan"]) == ["contains personal data 'lan'"]
    assert passwords.violations(policy, "Xy@2026abcd", 8) == []
