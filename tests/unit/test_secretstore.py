import base64
import hashlib
import stat

from argon2 import PasswordHasher, Type
from argon2 import extract_parameters as parameters

from govmail.build.secretstore import Secrets, argon2, ssha, store_dir


def test_ssha_is_salted_sha1_of_password_and_salt():
    salt = b"12345678"
    digest = hashlib.sha1(b"secret" + salt).digest()
    assert ssha("secret", salt) == "{SSHA}" + base64.b64encode(digest + salt).decode()


def test_secrets_are_made_once_private_and_reused(tmp_path):
    store = Secrets(tmp_path / "lab")
    first, hashed = store.password("ldap-dovecot"), store.password_hash("ldap-dovecot")
    again = Secrets(tmp_path / "lab")
    assert again.password("ldap-dovecot") == first and again.password_hash("ldap-dovecot") == hashed
    assert len(first) == 32 and store.password("ldap-postfix") != first
    assert stat.S_IMODE((tmp_path / "lab").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "lab" / "ldap-dovecot.password").stat().st_mode) == 0o600
    assert hashed.startswith("{ARGON2}$argon2id$")
    assert PasswordHasher().verify(hashed[len("{ARGON2}"):], first)


def test_stored_hashes_cost_what_slapd_is_told_to_spend():
    """The hashes made on the operator's side (root DN, service accounts) carry the same argon2 cost as the
    ones slapd makes (olcModuleLoad argon2 m= t= p=)."""
    params = parameters(argon2("secret")[len("{ARGON2}"):])
    assert params.type is Type.ID
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19456, 2, 1)


def test_two_inventories_with_the_same_name_never_share_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVMAIL_SECRETS", str(tmp_path / "store"))
    first, second = tmp_path / "a" / "prod", tmp_path / "b" / "prod"
    first.mkdir(parents=True), second.mkdir(parents=True)
    assert store_dir(str(first)) != store_dir(str(second))
    assert store_dir(str(first)) == store_dir(str(first / ".." / "prod"))
    assert Secrets(store_dir(str(first))).password("ldap-dovecot") != Secrets(store_dir(str(second))).password("ldap-dovecot")


def test_a_store_keyed_by_name_alone_goes_to_the_first_inventory_that_asks(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVMAIL_SECRETS", str(tmp_path / "store"))
    old = Secrets(tmp_path / "store" / "prod").password("ldap-dovecot")
    inventory = tmp_path / "site" / "prod"
    inventory.mkdir(parents=True)
    assert Secrets(store_dir(str(inventory))).password("ldap-dovecot") == old
    other = tmp_path / "other" / "prod"
    other.mkdir(parents=True)
    assert Secrets(store_dir(str(other))).password("ldap-dovecot") != old
