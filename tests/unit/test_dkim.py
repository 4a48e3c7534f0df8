import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from govmail.build import dkim
from govmail.build.secretstore import Secrets
from govmail.errors import BadInput


def test_the_first_key_gets_a_dated_selector_and_is_kept(tmp_path):
    store = Secrets(tmp_path)
    key = dkim.active(store, "hanam.gov.vn", today=dt.date(2026, 11, 30))
    assert key.selector == "g202611" and key.dns_name == "g202611._domainkey.hanam.gov.vn"
    assert dkim.active(store, "hanam.gov.vn", today=dt.date(2027, 5, 1)) == key
    assert (tmp_path / "dkim-hanam.gov.vn-g202611.key").stat().st_mode & 0o077 == 0


def test_the_published_key_verifies_what_the_private_key_signs(tmp_path):
    key = dkim.active(Secrets(tmp_path), "danang.gov.vn")
    tags = dict(part.strip().split("=", 1) for part in key.dns_value.split(";"))
    assert tags["v"] == "DKIM1" and tags["k"] == "rsa"
    public = serialization.load_der_public_key(base64.b64decode(tags["p"]))
    assert public.key_size == 2048
    private = serialization.load_pem_private_key(key.private_pem.encode(), None)
    signature = private.sign(b"header hash", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"header hash", padding.PKCS1v15(), hashes.SHA256())


def test_a_damaged_selector_file_is_named(tmp_path):
    (tmp_path / "dkim-hanam.gov.vn.active").write_text("bad selector\n")
    with pytest.raises(BadInput, match="dkim-hanam.gov.vn.active: 'bad selector' is not a govmail selector"):
        dkim.active(Secrets(tmp_path), "hanam.gov.vn")


def test_rotation_publishes_the_next_key_before_it_signs(tmp_path):
    store, domain = Secrets(tmp_path), "hanam.gov.vn"
    first = dkim.active(store, domain, today=dt.date(2026, 11, 2))
    waiting = dkim.prepare(store, domain, today=dt.date(2026, 11, 30))
    assert waiting.selector == "g202611b" and dkim.prepare(store, domain) == waiting     # asked again: the same
    assert dkim.active(store, domain) == first, "the next key does not sign before it is published"
    for answer in (None, first.dns_value):
        with pytest.raises(dkim.NotPublished, match="g202611b._domainkey.hanam.gov.vn answers with"):
            dkim.promote(store, domain, answer)
        assert dkim.active(store, domain) == first and dkim.upcoming(store, domain) == waiting
    retired, signing = dkim.promote(store, domain, waiting.dns_value.replace("; ", ";"))
    assert (retired, signing) == (first, waiting)
    assert dkim.active(store, domain) == waiting and dkim.upcoming(store, domain) is None


def test_promoting_with_nothing_waiting_says_what_to_run(tmp_path):
    with pytest.raises(Exception, match="govmail dkim rotate. makes one"):
        dkim.promote(Secrets(tmp_path), "hanam.gov.vn", "v=DKIM1; p=x")
