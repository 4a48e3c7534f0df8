import base64
import hashlib
import stat

from govmail.secrets import Secrets, ssha


def test_ssha_is_salted_sha1_of_password_and_salt():
    salt = b"12345678"
    digest = hashlib.sha1(b"secret" + salt).digest()
    assert ssha("secret", salt) == "{SSHA}" + base64.b64encode(digest + salt).decode()


def test_secrets_are_made_once_private_and_reused(tmp_path):
    store = Secrets(tmp_path / "lab")
    first, hashed = store.password("ldap-admin"), store.password_hash("ldap-admin")
    again = Secrets(tmp_path / "lab")
    assert again.password("ldap-admin") == first and again.password_hash("ldap-admin") == hashed
    assert len(first) == 32 and store.password("ldap-postfix") != first
    assert stat.S_IMODE((tmp_path / "lab").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "lab" / "ldap-admin.password").stat().st_mode) == 0o600
    raw = base64.b64decode(hashed[len("{SSHA}"):])
    assert hashlib.sha1(first.encode() + raw[20:]).digest() == raw[:20]
