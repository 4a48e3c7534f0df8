"""Store hosts apart from the mail host (hosts.yml group `store`): the model, what Dovecot's configuration
becomes on each host, and who may reach a store."""

import configparser

import bcrypt
import pytest
import yaml
from cryptography import x509

from govmail.accounts import placement
from govmail.accounts.lifecycle import Lifecycle
from govmail.build import components
from govmail.build import layout
from govmail.errors import BadInput
from govmail.model import settings

MAIL, STORE = "192.0.2.10", "192.0.2.31"


def cluster(inventory, hosts_yml) -> settings.Settings:
    return settings.load(None, hosts_yml(inventory(""), {
        "mail": {"mail1": MAIL}, "directory": {"store1": STORE}, "store": {"mail1": MAIL, "store1": STORE}}))


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_a_store_apart_is_named_and_new_mailboxes_may_go_there(inventory, hosts_yml):
    s = cluster(inventory, hosts_yml)
    assert (s.stores, s.stores_apart, s.store_names) == (("mail1", "store1"), ("store1",), ("mail1", "store1"))


def test_the_mail_host_proxies_to_the_store_a_mailbox_names_over_starttls(inventory, hosts_yml):
    files = components.host_files(cluster(inventory, hosts_yml))
    conf = lines(files["/etc/dovecot/dovecot.conf"])
    for line in ("proxy_maybe = yes", 'host = %{ldap:govmailStore | default("mail1")}', "pass = %{password}",
                 "starttls = yes", "lmtp_proxy = yes", "!include_try conf.d/govmail-front.conf",
                 "!include_try conf.d/govmail-store.conf"):
        assert line in conf, line
    assert f"ssl_client_ca_file = {layout.SLAPD_DIR}/tls-ca.crt" in conf
    assert f"auth_proxy_self = {MAIL}" in lines(files[layout.DOVECOT_FRONT])


def test_every_store_presents_a_certificate_for_its_name_and_admits_the_stores_alone(inventory, hosts_yml):
    s = cluster(inventory, hosts_yml)
    files = components.host_files(s)
    store = lines(files[layout.DOVECOT_STORE])
    assert f"ssl_server_cert_file = {layout.STORE_CERT}" in store
    assert f"login_trusted_networks = 127.0.0.0/8 {MAIL}" in store
    cert = x509.load_pem_x509_certificate(files[layout.STORE_CERT].encode())
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == ["mail1", "store1"]
    front = lines(files[layout.DOVECOT_FRONT])
    assert front[front.index("protocol doveadm {") + 1] == f"ssl_server_cert_file = {layout.STORE_CERT}"
    firewall = lines(files[layout.DIRECTORY_FIREWALL])
    dovecot_ports = "{ 24, 110, 143, 993, 995, 4190, 12340, 12345 }"
    assert [line.split()[-2] for line in firewall if line.startswith(f"tcp dport {dovecot_ports} ip saddr")] == [MAIL, STORE]
    assert f"tcp dport {dovecot_ports} counter reject with tcp reset" in firewall
    mail_firewall = lines(files["/etc/govmail/nftables.conf"])
    assert f"tcp dport {{ 12345, 10026 }} ip saddr {STORE} accept" in mail_firewall
    assert "tcp dport { 12345, 10026 } counter reject with tcp reset" in mail_firewall
    parts = components.components(s)
    assert parts["dovecot_store"].role == "store"
    assert {f.path for f in parts["dovecot_store"].files} == {layout.DOVECOT_STORE}
    assert {layout.STORE_CERT, layout.STORE_KEY} <= {f.path for f in parts["dovecot"].files}


def test_sieve_on_a_store_apart_sends_through_the_mail_hosts_listener_over_tls(inventory, hosts_yml):
    """Redirects and vacation replies of a store's mailboxes: the store has no Postfix."""
    files = components.host_files(cluster(inventory, hosts_yml))
    store = lines(files[layout.DOVECOT_STORE])
    assert store[-2:] == [f"submission_host = mail1:{layout.PORTS['sieve_forward']}", "submission_ssl = starttls"]
    master = lines(files["/etc/postfix/master.cf"])
    listener = master.index(f"{MAIL}:{layout.PORTS['sieve_forward']} inet n  -       y       -       -       smtpd")
    options = master[listener + 1:master.index("-o milter_macro_daemon_name=ORIGINATING", listener)]
    assert {f"-o mynetworks={STORE}", "-o smtpd_tls_security_level=encrypt",
            "-o smtpd_client_restrictions=permit_mynetworks,reject"} <= set(options)
    assert f"ip daddr {MAIL} tcp dport {layout.PORTS['sieve_forward']} meta skuid != {layout.VMAIL_UID} counter reject " \
           "with tcp reset" in lines(files[layout.DIRECTORY_FIREWALL])


def test_the_mail_hosts_postfix_asks_a_mailboxs_own_store_whether_a_message_fits(inventory, hosts_yml):
    """At RCPT time, on port 25 (main.cf) and submission (master.cf): the directory names the mailbox's store,
    whose class asks that store's quota-status; one that does not answer lets the mail wait in the queue."""
    files = components.host_files(cluster(inventory, hosts_yml))
    main = dict(line.split(" = ", 1) for line in lines(files["/etc/postfix/main.cf"]) if " = " in line)
    quota_port = layout.STORE_PORTS["quota_status"]
    assert main["govmail_mailbox_quota"] == "check_recipient_access proxy:ldap:/etc/postfix/ldap/stores.cf, " \
        f"check_policy_service inet:127.0.0.1:{quota_port}"
    assert main["smtpd_recipient_restrictions"].endswith(", $govmail_mailbox_quota")
    assert main["smtpd_restriction_classes"] == "govmail_quota_on_store1"
    assert main["govmail_quota_on_store1"] == f"check_policy_service {{ inet:store1:{quota_port}, timeout=5s, " \
        "try_limit=1, default_action=DUNNO }"
    stores_map = dict(line.split(" = ", 1) for line in lines(files["/etc/postfix/ldap/stores.cf"]) if " = " in line)
    assert stores_map["query_filter"] == "(&(objectClass=govmailMailbox)(mail=%s)(|(govmailStore=store1)))"
    assert (stores_map["result_attribute"], stores_map["result_format"]) == ("govmailStore", "govmail_quota_on_%s")
    master = lines(files["/etc/postfix/master.cf"])
    assert master.count("-o smtpd_recipient_restrictions=$govmail_mailbox_quota,permit_sasl_authenticated,reject") == 2
    store = files[layout.DOVECOT_STORE]
    assert "service quota-status {\n  inet_listener quota-status {\n    listen = *\n" in store


def test_one_node_serves_every_mailbox_without_a_proxy(inventory, hosts_yml):
    s = settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}}))
    files = components.host_files(s)
    assert s.stores_apart == ()
    assert "proxy" not in files["/etc/dovecot/dovecot.conf"]
    assert "auth_proxy_self" not in files[layout.DOVECOT_FRONT]
    assert layout.DOVECOT_STORE not in files and "dovecot_store" not in components.components(s)
    assert "/etc/postfix/ldap/stores.cf" not in files
    assert "govmail_mailbox_quota = check_policy_service inet:127.0.0.1:12340" in lines(files["/etc/postfix/main.cf"])
    assert [line for line in lines(files["/etc/postfix/master.cf"]) if f":{layout.PORTS['sieve_forward']} " in line] == \
        [f"127.0.0.1:{layout.PORTS['sieve_forward']} inet n  -       y       -       -       smtpd"]


def test_a_store_that_is_no_directory_host_is_refused_by_name(inventory, hosts_yml):
    with pytest.raises(BadInput, match="store host.*store1 must be in group directory"):
        settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}, "store": {"mail1": MAIL, "store1": STORE}}))


def test_stores_must_list_the_mail_host_first(inventory, hosts_yml):
    with pytest.raises(BadInput, match="group store must list the mail host first"):
        settings.load(None, hosts_yml(inventory(""), {
            "mail": {"mail1": MAIL}, "directory": {"store1": STORE}, "store": {"store1": STORE, "mail1": MAIL}}))


def test_each_store_copies_its_mailboxes_to_the_next_one_on_a_timer(inventory, hosts_yml):
    """The partner copies a failover points mailboxes at: the mail host's go to store1, store1's to the mail host,
    every store_copy_every; the job finds its own store by the address it holds."""
    s = settings.load(None, hosts_yml(inventory("store_copy_every: 10 minutes"), {
        "mail": {"mail1": MAIL}, "directory": {"store1": STORE}, "store": {"mail1": MAIL, "store1": STORE}}))
    assert s.store_partners == {"mail1": "store1", "store1": "mail1"}
    files = components.host_files(s)
    tool = files[layout.STORE_COPY_TOOL]
    assert f'"{MAIL}": ("mail1", "store1"),' in tool and f'"{STORE}": ("store1", "mail1"),' in tool
    assert 'DOVEADM = "tcps:{partner}:12345"' in tool
    timer = lines(files["/etc/systemd/system/govmail-store-copy.timer"])
    assert {"OnActiveSec=600s", "OnUnitActiveSec=600s"} <= set(timer)
    dovecot = components.components(s)["dovecot"]
    assert dovecot.services == ("dovecot", "govmail-store-copy.timer") and dovecot.unit_files
    assert {layout.STORE_COPY_TOOL, "/etc/systemd/system/govmail-store-copy.service"} <= {f.path for f in dovecot.files}


def test_one_store_has_no_partner_and_no_copies(inventory, hosts_yml):
    s = settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}}))
    assert s.store_partners == {}
    assert layout.STORE_COPY_TOOL not in components.host_files(s)
    assert components.components(s)["dovecot"].services == ("dovecot",)


def test_back_to_one_store_the_copy_job_and_the_store_map_are_taken_away(inventory, hosts_yml):
    """A mail host that had stores apart keeps no copy job firing at a partner that is gone, and no stale metric."""
    parts = components.components(settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}})))
    assert set(parts["dovecot"].withdrawn) == {
        layout.STORE_COPY_TOOL, "/etc/systemd/system/govmail-store-copy.service",
        "/etc/systemd/system/govmail-store-copy.timer", "/var/lib/prometheus/node-exporter/govmail-store-copy.prom",
        layout.STORE_CERT, layout.STORE_KEY}
    assert set(parts["dovecot"].withdrawn_units) == {"govmail-store-copy.service", "govmail-store-copy.timer"}
    assert parts["postfix"].withdrawn == ("/etc/postfix/ldap/stores.cf",) and parts["postfix"].withdrawn_units == ()
    # (a cluster without a floating address withdraws keepalived's and the shared webmail database's files alone,
    # which no deploy put there)
    assert [c.name for c in components.components(cluster(inventory, hosts_yml)).values() if c.withdrawn] == [
        "webmail_db", "keepalived"]


def test_a_copy_interval_under_a_minute_is_refused_by_name(inventory, hosts_yml):
    with pytest.raises(BadInput, match="store_copy_every.*between every minute and daily"):
        settings.load(None, hosts_yml(inventory("store_copy_every: 30 seconds"), {"mail": {"mail1": MAIL}}))


@pytest.mark.parametrize("store, refusal", [
    ("store9", "unknown store 'store9': the stores are mail1, store1"),
    ("mail1", "mail1 is the mail host, every user's way in"),
])
def test_a_failover_the_inventory_cannot_carry_out_is_refused_before_anything_is_touched(inventory, hosts_yml, store,
                                                                                         refusal):
    """No SSH, no directory write: the refusal comes from the inventory alone (the directory connection is None)."""
    lc = Lifecycle(cluster(inventory, hosts_yml), None, "operator")
    with pytest.raises(BadInput, match=refusal):
        placement.failover(lc, store, "drill")


def test_a_failover_without_stores_apart_is_refused(inventory, hosts_yml):
    lc = Lifecycle(settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}})), None, "operator")
    with pytest.raises(BadInput, match="one store .*no partner to fail over to"):
        placement.failover(lc, "mail1", "drill")


def test_the_copy_job_leaves_a_mailbox_that_failed_over_from_its_partner_until_its_failback(inventory, hosts_yml,
                                                                                          monkeypatch):
    """The rendered job's own selection, from ldapsearch's LDIF (an audit with Vietnamese text comes base64): on
    the mail host after store1's failover, a copy of store1's mailboxes to store1 would erase the mail store1 kept,
    which the failback merges. (The drill runs the job on a real store.)"""
    import base64
    import json
    import subprocess
    tool = components.host_files(cluster(inventory, hosts_yml))[layout.STORE_COPY_TOOL]
    job: dict = {}
    exec(compile(tool, "store-copy", "exec"), job)

    def audit(*records):
        return "".join(f"govmailAudit:: {base64.b64encode(json.dumps(r, ensure_ascii=False).encode()).decode()}\n"
                       for r in records)
    ldif = ("dn: uid=a,ou=people,dc=hanam,dc=gov,dc=vn\nmail: a@hanam.gov.vn\n"
            + audit({"at": "2026-12-02T01:00:00Z", "action": "add", "store": "store1"},
                    {"at": "2026-12-02T02:00:00Z", "action": "failover", "store": "mail1", "lost": "store1",
                     "reason": "máy hỏng"}) + "\n"
            "dn: uid=b,ou=people,dc=hanam,dc=gov,dc=vn\nmail: b@hanam.gov.vn\n"
            + audit({"at": "2026-12-02T01:00:00Z", "action": "add", "store": "mail1"}) + "\n"
            "dn: uid=c,ou=people,dc=hanam,dc=gov,dc=vn\nmail: c@hanam.gov.vn\n\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, ldif, ""))
    assert job["mailboxes"]("mail1", "store1") == ["b@hanam.gov.vn", "c@hanam.gov.vn"]
    assert job["mailboxes"]("mail1", "store2") == ["a@hanam.gov.vn", "b@hanam.gov.vn", "c@hanam.gov.vn"]


def test_a_store_apart_is_watched_for_its_dovecot_and_its_copies(inventory, hosts_yml):
    """Its node exporter reports Dovecot and the copy timer; an alert fires when a copy fails, and when the
    last whole copy is three intervals old (what a failover would give back)."""
    s = settings.load(None, hosts_yml(inventory("store_copy_every: 10 minutes"), {
        "mail": {"mail1": MAIL}, "directory": {"store1": STORE}, "store": {"mail1": MAIL, "store1": STORE}}))
    files = components.host_files(s)
    units = files["/etc/systemd/system/prometheus-node-exporter.service.d/govmail.conf"].split("unit-include=")[1]
    assert set(units.strip().strip("()").split("|")) == {
        "slapd.service", "govmail-directory-firewall.service", "prometheus-node-exporter.service", "dovecot.service",
        "govmail-store-copy.timer"}
    rules = {r["alert"]: r["expr"] for group in yaml.safe_load(files[layout.PROMETHEUS_RULES])["groups"]
             for r in group["rules"]}
    assert rules["StoreCopyFailing"] == "govmail_store_copy_failures > 0"
    assert rules["StoreCopyOld"] == "time() - govmail_store_copy_last_success_timestamp_seconds > 1800"
    single = components.host_files(settings.load(None, hosts_yml(inventory(""), {"mail": {"mail1": MAIL}})))
    assert "StoreCopy" not in single[layout.PROMETHEUS_RULES]


def backed_up_cluster(inventory, hosts_yml) -> settings.Settings:
    return settings.load(None, hosts_yml(inventory("backup_target: backup"), {
        "mail": {"mail1": MAIL}, "directory": {"store1": STORE}, "store": {"mail1": MAIL, "store1": STORE}}))


def backup_conf(files: dict[str, str]) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(files[f"{layout.BACKUP_CONF}/backup.conf"])
    return dict(parser["backup"])


def test_a_store_backs_up_its_own_mailboxes_under_its_own_name(inventory, hosts_yml):
    s = backed_up_cluster(inventory, hosts_yml)
    mail, store = backup_conf(components.host_files(s)), backup_conf(components.host_files(s, "store1"))
    assert (store["host"], store["repository"]) == ("store1", "rest:https://backup:8000/store1/")
    assert store["paths"].split() == [layout.VMAIL, "/etc", "/var/lib/govmail"]
    assert "operators" not in store      # a store sends no mail: its backup alerts tell the operators
    assert (mail["host"], mail["repository"]) == (s.mail_host, f"rest:https://backup:8000/{s.mail_host}/")
    assert layout.BACKUP_DUMPS in mail["paths"].split()
    # The mail host's name in hosts.yml is not a store apart: it backs up as the mail host.
    assert backup_conf(components.host_files(s, "mail1")) == mail


def test_each_host_that_backs_up_logs_in_to_the_rest_server_with_a_password_of_its_own(inventory, hosts_yml):
    s = backed_up_cluster(inventory, hosts_yml)
    passwords = {host or s.mail_host: components.host_files(s, host)[f"{layout.BACKUP_CONF}/rest-password"].strip()
                 for host in (None, "store1")}
    logins = dict(line.split(":", 1) for line in
                  components.host_files(s, "store1")[f"{layout.BACKUP_REST_CONF}/users.htpasswd"].splitlines())
    assert set(logins) == {s.mail_host, "store1"}
    for host, password in passwords.items():
        assert [user for user, hashed in logins.items() if bcrypt.checkpw(password.encode(), hashed.encode())] == [host]


def test_the_backup_host_admits_keeps_and_prunes_every_host_that_backs_up(inventory, hosts_yml):
    s = backed_up_cluster(inventory, hosts_yml)
    files = components.host_files(s)
    rules = files[f"{layout.BACKUP_SERVER_CONF}/nftables.conf"]
    admitted = [line.split()[5] for line in rules.splitlines() if line.strip().startswith("tcp dport 8000 ip saddr")]
    assert admitted == [MAIL, STORE]
    prune = [line for line in files["/etc/systemd/system/govmail-backup-prune.service"].splitlines()
             if line.startswith("ExecStart=")]
    assert [line.split(" -r ")[1].split()[0] for line in prune] == [f"{layout.BACKUP_ROOT}/{s.mail_host}",
                                                                   f"{layout.BACKUP_ROOT}/store1"]
    dirs = components.facts(s, files)["backup"]["repository_dirs"]
    assert dirs == [f"{layout.BACKUP_ROOT}/{s.mail_host}", f"{layout.BACKUP_ROOT}/store1"]


def test_the_monitoring_expects_a_backup_of_every_host_that_backs_up(inventory, hosts_yml):
    s = backed_up_cluster(inventory, hosts_yml)
    rules = yaml.safe_load(components.host_files(s)[layout.PROMETHEUS_RULES])["groups"][0]["rules"]
    never = [rule["expr"] for rule in rules if rule.get("alert") == "BackupNeverRan"]
    assert never == [f'absent(govmail_backup_last_success_timestamp_seconds{{instance="{host}"}})'
                     for host in (s.mail_host, "store1")]
    assert "govmail-backup.timer" in components.directory_host_units(s)
    assert "govmail-backup.timer" not in components.directory_host_units(cluster(inventory, hosts_yml))
