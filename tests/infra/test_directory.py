"""The directory on a lab host deployed by either engine: packages, service, tree, policy enforced by slapd."""

import socket
import ssl
import uuid

import ldap3
import pytest

from govmail.accounts import directory as directory_mod
from govmail.build.layout import SLAPD_STAMPS
from govmail.build.render import SERVICE_ACCOUNTS

pytestmark = pytest.mark.infra


def test_second_deploy_changes_nothing(deployment):
    if deployment.second is None:
        pytest.skip("no second deploy in this suite: deployed outside it (GOVMAIL_ENGINE=none), or a province "
                    "switch after the first (GOVMAIL_TEST_IDEMPOTENCE=0)")
    first, second = deployment.first, deployment.second
    assert first["errors"] == second["errors"] == 0
    assert second["changed"] == 0 and second["operations"] > 0


def test_a_directory_step_that_died_half_way_is_finished_by_the_next_deploy(host, deployment, redeploy, once):
    s = deployment.settings
    policy = f"cn=users,ou=policies,{s.base_dn}"
    stamps = SLAPD_STAMPS
    # What a run that died inside replace-policies leaves: the policy deleted, not yet added again.
    host.check_output("ldapdelete -Y EXTERNAL -Q -H ldapi:/// %s", policy)
    host.check_output("rm %s/replace-policies-*", stamps)
    run = redeploy()
    assert run["errors"] == 0 and run["changed"] >= 1
    found = host.run("ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b %s -s base -LLL dn", policy)
    assert found.rc == 0 and policy in found.stdout.replace("\n ", "")
    assert host.run("ls %s/replace-policies-*", stamps).rc == 0


def test_slapd_installed_running_and_listening(host, deployment, per_engine):
    for package in ("slapd", "slapd-contrib", "ldap-utils"):
        assert host.package(package).is_installed
    assert host.service("slapd").is_running and host.service("slapd").is_enabled
    assert host.socket("tcp://127.0.0.1:389").is_listening
    assert not host.socket("tcp://0.0.0.0:389").is_listening, "plain LDAP answers on loopback only"
    # ldaps:// answers on every address only where the inventory lists directory peers (the lab does)
    peers = bool(deployment.settings.defences.directory_peers)
    assert host.socket("tcp://0.0.0.0:636").is_listening == peers


def test_ppm_and_lastbind_configured(host, deployment):
    s = deployment.settings
    config = host.check_output("ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b cn=config -LLL "
                               "'(|(objectClass=olcPPolicyConfig)(olcSuffix=%s))' olcPPolicyCheckModule olcLastBind "
                               "olcPPolicyHashCleartext", s.base_dn)
    assert "olcPPolicyCheckModule: ppm.so" in config
    assert "olcLastBind: TRUE" in config and "olcPPolicyHashCleartext: TRUE" in config


def test_policy_values_equal_the_profile(host, deployment):
    s = deployment.settings
    policy = host.check_output("ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b cn=users,ou=policies,%s -s base -LLL",
                               s.base_dn)
    users = s.policies["users"]
    assert f"pwdMinLength: {users.min_length}" in policy
    assert f"pwdMaxAge: {users.max_age_seconds}" in policy
    assert "pwdMustChange: TRUE" in policy


def test_organisation_tree(host, deployment):
    s = deployment.settings
    dns = host.check_output("ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b %s -s one -LLL dn", s.base_dn)
    for ou in ("agencies", "units", "people", "services", "revoked", "policies"):
        assert f"dn: ou={ou},{s.base_dn}" in dns


@pytest.fixture(scope="module")
def directory(deployment, ldap_server):
    s, secrets = deployment.settings, deployment.secrets
    server = ldap_server()
    admin = directory_mod.connect(s)
    dn = f"uid=ppmtest,ou=people,{s.base_dn}"
    admin.delete(dn)
    assert admin.add(dn, ["inetOrgPerson", "govmailMailbox"], {
        "cn": "Nguyễn Văn Thử", "sn": "Nguyễn", "uid": "ppmtest", "mail": f"ppmtest@{s.domain}",
        "govmailMailboxKind": "personal", "govmailQuotaBytes": str(s.quotas["personal"].bytes or 0)}), admin.result
    issued = "Cap#Phat2026xyz"
    assert admin.extend.standard.modify_password(dn, new_password=issued), admin.result
    yield {"server": server, "admin": admin, "dn": dn, "issued": issued, "settings": s, "secrets": secrets}
    admin.delete(dn)


def test_issued_password_must_be_changed(directory):
    user = ldap3.Connection(directory["server"], directory["dn"], directory["issued"], auto_bind=True)
    user.search(directory["dn"], "(objectClass=*)", search_scope=ldap3.BASE, attributes=["mail"])
    # ppolicy's answer to anything but a password change while pwdReset is set
    assert (user.result["result"], user.result["message"]) == (
        50, "Operations are restricted to bind/unbind/abandon/StartTLS/modify password"), user.result


@pytest.mark.parametrize("weak", ["alllowercase2", "NoDigitsHere!", "NoSpecial123X", "Sh0rt!"])
def test_weak_password_refused_by_the_directory(directory, weak):
    user = ldap3.Connection(directory["server"], directory["dn"], directory["issued"], auto_bind=True)
    assert not user.extend.standard.modify_password(directory["dn"], None, weak)
    assert user.result["description"] == "constraintViolation"


def test_strong_password_accepted_then_login_works(directory):
    s = directory["settings"]
    special = s.policies["users"].class_chars["special"][0]
    strong = f"Vn{special}2026mat{special}Khau"
    user = ldap3.Connection(directory["server"], directory["dn"], directory["issued"], auto_bind=True)
    assert user.extend.standard.modify_password(directory["dn"], None, strong), user.result
    again = ldap3.Connection(directory["server"], directory["dn"], strong, auto_bind=True)
    again.search(directory["dn"], "(objectClass=*)", search_scope=ldap3.BASE, attributes=["mail"])
    assert again.entries[0].mail.value == f"ppmtest@{s.domain}"


def test_service_accounts_read_but_never_write_or_see_hashes(directory):
    s = directory["settings"]
    for service in ("postfix", "dovecot"):
        conn = ldap3.Connection(directory["server"], f"cn={service},ou=services,{s.base_dn}",
                                directory["secrets"].password(f"ldap-{service}"), auto_bind=True)
        conn.search(s.base_dn, "(uid=ppmtest)", attributes=["mail", "userPassword"])
        assert len(conn.entries) == 1
        assert not conn.entries[0].entry_attributes_as_dict.get("userPassword"), "hashes are never readable"
        assert not conn.modify(directory["dn"], {"mail": [(ldap3.MODIFY_REPLACE, [f"x@{s.domain}"])]})
        assert conn.result["description"] == "insufficientAccessRights"


def test_anonymous_sees_nothing(directory):
    anon = ldap3.Connection(directory["server"], auto_bind=True)
    anon.search(directory["settings"].base_dn, "(objectClass=*)")
    # not even the base entry exists for anonymous (the ACLs hide it: 32 noSuchObject, not an empty success)
    assert anon.entries == [] and anon.result["result"] == 32, anon.result


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_directory_speaks_tls_with_the_deployment_certificate(deployment, ldap_server, mode):
    s = deployment.settings
    server = ldap_server(636 if mode == "ldaps" else 389)
    conn = ldap3.Connection(server, f"cn=dovecot,ou=services,{s.base_dn}",
                            deployment.secrets.password("ldap-dovecot"))
    conn.open()
    if mode == "starttls":
        assert conn.start_tls()
    assert conn.bind(), conn.result
    assert conn.search(s.base_dn, "(ou=people)", attributes=["ou"]) and conn.entries


def test_a_mailbox_without_its_quota_is_refused(directory):
    """An entry without quota bytes would otherwise get unlimited storage from Dovecot."""
    dn = f"uid=noquota,ou=people,{directory['settings'].base_dn}"
    assert not directory["admin"].add(dn, ["inetOrgPerson", "govmailMailbox"], {
        "cn": "Không Hạn Mức", "sn": "Mức", "uid": "noquota", "mail": f"noquota@{directory['settings'].domain}",
        "govmailMailboxKind": "personal"})
    assert directory["admin"].result["description"] == "objectClassViolation"


def test_failed_binds_never_lock_a_service_account(directory):
    """Their names are well known; were they lockable, a few bad binds would stop every lookup and login."""
    s = directory["settings"]
    for service in SERVICE_ACCOUNTS:
        dn = f"cn={service},ou=services,{s.base_dn}"
        for _ in range(s.policies["users"].max_failures + 2):
            assert not ldap3.Connection(directory["server"], dn, "not-the-password").bind()
        right = ldap3.Connection(directory["server"], dn, directory["secrets"].password(f"ldap-{service}"))
        assert right.bind(), f"{service}: {right.result}"
        directory["admin"].search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["pwdAccountLockedTime"])
        assert not directory["admin"].entries[0].entry_attributes_as_dict.get("pwdAccountLockedTime")


def test_the_root_dn_is_root_on_the_host_and_nobody_else(host, deployment, ldap_server, once):
    s = deployment.settings
    mailboxes = "ldapsearch -Y EXTERNAL -Q -H ldapi:/// -b %s -LLL objectClass=govmailMailbox dn"
    assert host.check_output("ldapwhoami -Y EXTERNAL -Q -H ldapi:///") == f"dn:{s.admin_dn}"
    assert f"uid=postmaster,ou=operators,{s.base_dn}" in host.check_output(mailboxes, s.base_dn)
    assert "uidNumber=65534" in host.check_output("runuser -u nobody -- ldapwhoami -Y EXTERNAL -Q -H ldapi:///")
    other = host.run("runuser -u nobody -- " + mailboxes, s.base_dn)
    assert other.stdout == "" and "No such object" in other.stderr     # the base itself is hidden
    with_password = ldap3.Connection(ldap_server(), s.admin_dn, "a-guessed-password")
    assert not with_password.bind() and with_password.result["description"] == "invalidCredentials"


def peer_server(deployment) -> ldap3.Server:
    """slapd's ldaps:// as a listed network reaches it: the lab lists its controller (where the tests run);
    `outside` is not listed (tests/e2e/test_outsider.py finds both ports closed from there)."""
    s = deployment.settings
    assert s.defences.directory_peers, "the lab inventory lists the controller as a directory peer"
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(deployment.secrets.directory / "ca.crt"),
                    valid_names=[s.mail_host])
    return ldap3.Server(deployment.host.address, port=directory_mod.LDAPS_PORT, use_ssl=True, tls=tls,
                        get_info=None, connect_timeout=5)


@pytest.mark.lab_services
def test_a_listed_directory_peer_reaches_ldaps_and_nothing_else(deployment):
    s, address = deployment.settings, deployment.host.address
    server = peer_server(deployment)
    service = ldap3.Connection(server, f"cn=dovecot,ou=services,{s.base_dn}",
                               deployment.secrets.password("ldap-dovecot"))
    assert service.bind(), service.result
    root = ldap3.Connection(server, s.admin_dn, "a-guessed-password")
    assert not root.bind() and root.result["description"] == "invalidCredentials"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, 389), timeout=5).close()


# What a mail program's address book may show of another mailbox (the directory's ACL).
BOOK_ATTRIBUTES = {"objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "govmailAlias",
                   "govmailAgency", "govmailSearchName"}


@pytest.fixture
def book_entries(directory):
    """An agency, an official of it with everything the directory keeps of a person, and a revoked namesake."""
    s, admin = directory["settings"], directory["admin"]
    agency = f"uid=so-thu-nghiem,ou=agencies,{s.base_dn}"
    mailbox = {"govmailQuotaBytes": "0", "govmailAccountStatus": "active"}
    entries = {
        agency: {"cn": "Sở Thử Nghiệm", "sn": "Sở Thử Nghiệm", "uid": "so-thu-nghiem",
                 "mail": f"so-thu-nghiem@{s.domain}", "govmailMailboxKind": "agency", **mailbox},
        f"uid=hung.acl,ou=people,{s.base_dn}": {
            "cn": "Nguyễn Văn Hùng", "sn": "Nguyễn", "givenName": "Hùng", "uid": "hung.acl",
            "displayName": "Nguyễn Văn Hùng - Sở Thử Nghiệm", "mail": f"hung.acl@{s.domain}",
            "govmailSearchName": "nguyen van hung", "govmailAgency": agency, "govmailMailboxKind": "personal",
            "govmailBirthDate": "1980-02-29", "govmailAudit": "add by test", "govmailRequest": "CV-ACL-1", **mailbox},
        f"uid=hung.acl-cu,ou=people,{s.base_dn}": {
            "cn": "Nguyễn Văn Hùng", "sn": "Nguyễn", "uid": "hung.acl-cu", "mail": f"hung.acl-cu@{s.domain}",
            "govmailSearchName": "nguyen van hung", "govmailMailboxKind": "personal", **mailbox,
            "govmailAccountStatus": "revoked"},
    }
    for dn, attributes in entries.items():
        admin.delete(dn)
        assert admin.add(dn, ["inetOrgPerson", "govmailMailbox"], attributes), admin.result
    yield entries
    for dn in entries:
        admin.delete(dn)


def official(directory, deployment) -> ldap3.Connection:
    """The directory fixture's official, active, password changed as the policy forces, bound over ldaps://
    from a listed network as a mail program would."""
    s, admin, dn = directory["settings"], directory["admin"], directory["dn"]
    assert admin.modify(dn, {"govmailAccountStatus": [(ldap3.MODIFY_REPLACE, ["active"])]}), admin.result
    special = s.policies["users"].class_chars["special"][0]
    chosen = f"Danh{special}Ba{uuid.uuid4().hex[:6]}2026{special}Tinh"     # never one in its history
    # The fixture's entry lives for the module: an earlier test may have changed its password.
    assert admin.extend.standard.modify_password(dn, new_password=directory["issued"]), admin.result
    first = ldap3.Connection(directory["server"], dn, directory["issued"], auto_bind=True)
    assert first.extend.standard.modify_password(dn, None, chosen), first.result
    return ldap3.Connection(peer_server(deployment), dn, chosen, auto_bind=True)


def test_an_official_reads_names_addresses_and_agencies_over_ldaps_and_no_more(directory, deployment,
                                                                                 book_entries):
    s = directory["settings"]
    agency, hung, _revoked = book_entries
    conn = official(directory, deployment)
    # (the e2e suites add their own Nguyễn Văn Hùng: only this test's two are looked for)
    assert conn.search(s.base_dn, "(&(govmailSearchName=*nguyen van hung*)(uid=hung.acl*))", attributes=["*", "+"]), \
        conn.result
    assert [e.entry_dn for e in conn.entries] == [hung], "the revoked namesake is never listed"
    shown = set(conn.entries[0].entry_attributes_as_dict)
    assert shown <= BOOK_ATTRIBUTES | {"entryDN", "structuralObjectClass", "subschemaSubentry", "hasSubordinates"} \
        and {"displayName", "mail", "govmailAgency"} <= shown, shown
    assert conn.search(agency, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["cn"]), conn.result
    assert conn.entries[0].cn.value == "Sở Thử Nghiệm"
    # Nothing else can even be searched on: not a birth date, a request number, the operators' mailbox.
    for hidden in ("(govmailBirthDate=1980-02-29)", "(govmailRequest=CV-ACL-1)", f"(mail=postmaster@{s.domain})",
                   "(govmailAccountStatus=revoked)"):
        conn.search(s.base_dn, hidden, attributes=["mail"])
        assert conn.entries == [], hidden
    assert not conn.modify(hung, {"displayName": [(ldap3.MODIFY_REPLACE, ["Đổi Tên"])]})
    assert conn.result["description"] == "insufficientAccessRights"


def test_a_locked_official_reads_nothing_of_the_address_book(directory, deployment, book_entries):
    s, admin = directory["settings"], directory["admin"]
    conn = official(directory, deployment)
    assert admin.modify(directory["dn"], {"govmailAccountStatus": [(ldap3.MODIFY_REPLACE, ["locked"])]})
    conn.search(s.base_dn, "(govmailSearchName=*nguyen van hung*)", attributes=["mail"])
    assert conn.entries == [] and conn.result["result"] == 32, conn.result   # the base itself is hidden
