"""`govmail account` and `govmail sweep` end to end against the lab host deployed by either engine (GOVMAIL_ENGINE): the CLI
reaches slapd through SSH (inventory + secrets), users log in over IMAP, the sweep's notice goes through
the host's sendmail into the agency's mailbox."""

import imaplib
import time
import uuid

import ldap3
import pytest
from mailflow import choose_password, govmail, imap_login, inbox_subjects

from govmail.accounts.directory import RELAX

pytestmark = pytest.mark.e2e


def test_account_lifecycle_on_a_deployed_host(env):
    tag = uuid.uuid4().hex[:6]
    agency_line = govmail("account", "add", "--kind", "agency", "--name", f"Sở Thử nghiệm {tag}",
                          "--abbrev", f"stn{tag}", "--request", f"E2E-{tag}-1").stdout
    agency, agency_issued = agency_line.strip().split("\t")
    person_line = govmail("account", "add", "--kind", "person", "--name", "Nguyễn Thị Thử", "--agency", agency,
                          "--address", f"ntthu{tag}", "--request", f"E2E-{tag}-2").stdout
    person, issued = person_line.strip().split("\t")

    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, person, issued)        # the issued password only allows changing it
    chosen = choose_password(env, person, issued)
    imap_login(env, person, chosen).logout()

    govmail("account", "lock", person, "--reason", "e2e", "--request", f"E2E-{tag}-3")
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, person, chosen)
    govmail("account", "unlock", person, "--request", f"E2E-{tag}-4")
    imap_login(env, person, chosen).logout()

    # The password is forged from 1 January: past every profile's maximum age (Đà Nẵng's 6-month "not
    # changed" rule comes first there); the sweep locks it and tells the agency through the host's Postfix.
    env.admin.search(env.s.base_dn, f"(mail={person})")
    dn = env.admin.entries[0].entry_dn
    assert env.admin.modify(dn, {"pwdChangedTime": [(ldap3.MODIFY_REPLACE, ["20260101000000Z"])],
                                        "pwdLastSuccess": [(ldap3.MODIFY_REPLACE, [time.strftime("%Y%m%d%H%M%SZ", time.gmtime())])]},
                                   controls=[RELAX]), env.admin.result
    swept = govmail("sweep").stdout
    assert any(person in line and ("password_expired" in line or "password_unchanged" in line)
               and f"notice to {agency}" in line
               for line in swept.splitlines()), swept
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, person, chosen)
    agency_password = choose_password(env, agency, agency_issued)
    assert any(person in subject and "tạm khóa" in subject for subject in inbox_subjects(env, agency, agency_password))
    assert govmail("sweep", "--dry-run").stdout.count(person) == 0, "a second sweep leaves it alone"
