"""`govmail account` and `govmail sweep` end to end against the lab host deployed by deploy.py: the CLI
reaches slapd over LDAPS (inventory + secrets), users log in over IMAP, the sweep's notice goes through
the host's Postfix into the agency's mailbox."""

import email
import email.policy
import imaplib
import os
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import ldap3
import pytest

from govmail.directory import RELAX

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PROVINCE = os.environ.get("GOVMAIL_TEST_PROVINCE")


def govmail(*args) -> subprocess.CompletedProcess:
    province = ["--province", PROVINCE] if PROVINCE else []
    proc = subprocess.run([sys.executable, "-m", "govmail.cli", *args, "--inventory", "inventories/lab", *province],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def lab_env(deployment):
    s, secrets = deployment["settings"], deployment["secrets"]
    context = ssl.create_default_context(cadata=(secrets.directory / "ca.crt").read_text())
    context.check_hostname = False
    server = ldap3.Server(deployment["host"].address, get_info=None, connect_timeout=5)
    admin = ldap3.Connection(server, f"cn=admin,{s.base_dn}", secrets.password("ldap-admin"), auto_bind=True)
    return {"s": s, "address": deployment["host"].address, "tls": context, "server": server, "admin": admin}


def imap(env, address, password) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL(env["address"], 993, ssl_context=env["tls"])
    conn.login(address, password)
    return conn


def choose_password(env, address, issued) -> str:
    """What the user does at first login: replace the issued password (through the directory's policy)."""
    dn = env["admin"].search(env["s"].base_dn, f"(mail={address})") and env["admin"].entries[0].entry_dn
    special = env["s"].policies["users"].class_chars["special"][0]
    chosen = f"Vn{special}2026{uuid.uuid4().hex[:4]}{special}Khau"
    user = ldap3.Connection(env["server"], dn, issued, auto_bind=True)
    assert user.extend.standard.modify_password(dn, None, chosen), user.result
    return chosen


def subjects(env, address, password, wait=15.0) -> list[str]:
    deadline = time.monotonic() + wait
    while True:
        conn = imap(env, address, password)
        conn.select("INBOX", readonly=True)
        found = []
        for num in conn.search(None, "ALL")[1][0].split():
            raw = conn.fetch(num, "(BODY.PEEK[HEADER])")[1][0][1]
            found.append(str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]))
        conn.logout()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_account_lifecycle_on_a_deployed_host(lab_env):
    tag = uuid.uuid4().hex[:6]
    agency_line = govmail("account", "add", "--kind", "agency", "--name", f"Sở Thử nghiệm {tag}",
                          "--abbrev", f"stn{tag}", "--request", f"E2E-{tag}-1").stdout
    agency, agency_issued = agency_line.strip().split("\t")
    person_line = govmail("account", "add", "--kind", "person", "--name", "Nguyễn Thị Thử", "--agency", agency,
                          "--address", f"ntthu{tag}", "--request", f"E2E-{tag}-2").stdout
    person, issued = person_line.strip().split("\t")

    with pytest.raises(imaplib.IMAP4.error):
        imap(lab_env, person, issued)        # the issued password only allows changing it
    chosen = choose_password(lab_env, person, issued)
    imap(lab_env, person, chosen).logout()

    govmail("account", "lock", person, "--reason", "e2e", "--request", f"E2E-{tag}-3")
    with pytest.raises(imaplib.IMAP4.error):
        imap(lab_env, person, chosen)
    govmail("account", "unlock", person, "--request", f"E2E-{tag}-4")
    imap(lab_env, person, chosen).logout()

    # The password is forged from 1 January: past every profile's maximum age (Đà Nẵng's 6-month "not
    # changed" rule comes first there); the sweep locks it and tells the agency through the host's Postfix.
    lab_env["admin"].search(lab_env["s"].base_dn, f"(mail={person})")
    dn = lab_env["admin"].entries[0].entry_dn
    assert lab_env["admin"].modify(dn, {"pwdChangedTime": [(ldap3.MODIFY_REPLACE, ["20260101000000Z"])],
                                        "pwdLastSuccess": [(ldap3.MODIFY_REPLACE, [time.strftime("%Y%m%d%H%M%SZ", time.gmtime())])]},
                                   controls=[RELAX]), lab_env["admin"].result
    swept = govmail("sweep").stdout
    assert any(person in line and ("password_expired" in line or "password_unchanged" in line)
               and f"notice to {agency}" in line
               for line in swept.splitlines()), swept
    with pytest.raises(imaplib.IMAP4.error):
        imap(lab_env, person, chosen)
    agency_password = choose_password(lab_env, agency, agency_issued)
    assert any(person in subject and "tạm khóa" in subject for subject in subjects(lab_env, agency, agency_password))
    assert govmail("sweep", "--dry-run").stdout.count(person) == 0, "a second sweep leaves it alone"
