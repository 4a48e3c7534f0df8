"""A second node (marker `drill`: run once): the lab host `store1` joins the inventory's groups `directory`,
`store` and `mx`, the suite's engine deploys both hosts. As a directory provider it holds the mail host's tree;
with it stopped, logins and deliveries go on and what changed meanwhile reaches it when it runs again. As an
MX it receives mail from the internet with its own filter chain and hands it to the mail host: with either MX
stopped, mail from outside arrives through the other. As a store it holds the mailboxes that name it: the mail host's Dovecot proxies their logins and deliveries there
over STARTTLS, and while its Dovecot is stopped their mail waits (4xx) and nothing bounces. Afterwards the
host is removed and the deployment goes back to one node."""

import contextlib
import dataclasses
import imaplib
import json
import os
import re
import shlex
import smtplib
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from email.utils import make_msgid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ldap3
import pytest
from cryptography import x509
from mailflow import (OUTSIDE_SENDER, delivered_count, govmail, imap_login, inbox_subjects, message, messages,
                      new_mailbox, publish, rcpt_reply, submit, wait_delivered)
from promql import run_rule_tests, series, settled, unit_names
from test_abuse import webmail_session
from test_backup import rest
from test_outsider import GUESS, connect_outcomes, fresh_address, probe

from govmail import lab
from govmail.accounts import directory
from govmail.build import layout
from govmail.build.components import directory_host_units
from govmail.build.render import EICAR
from govmail.lab.state import GATEWAY
from govmail.model import settings

pytestmark = [pytest.mark.e2e, pytest.mark.drill]
SECOND = "store1"


# Set by scripts/test when whatever runs after the drills deploys the lab host first (a province switch) or
# destroys the lab (molecule, the end): the deploy back to one node is then left to it.
NEXT_DEPLOYS = os.environ.get("GOVMAIL_LAB_NEXT_DEPLOYS") == "1"
# The address of a user who saved a webmail setting on the single node (the provider fixture).
SINGLE_NODE_WEBMAIL_USER: list[str] = []


@pytest.fixture(scope="module")
def provider(env, redeploy_for_module):
    """store1 up and deployed with the mail host (its slapd and Dovecot configuration change: providers,
    stores); afterwards removed, and the mail host deployed back to one node (unless NEXT_DEPLOYS)."""
    lab.up([SECOND])
    # A user of the single node saves a webmail setting (in its SQLite database), before the deploy below moves
    # Roundcube's data into the fronts' shared database.
    _, address, password = new_mailbox(env)
    assert floating_webmail_login(env, address, password, refresh_minutes=9, at=env.host.address) == "OK"
    SINGLE_NODE_WEBMAIL_USER.append(address)
    try:
        redeploy_for_module()
        env.admin = directory.connect(env.s)        # the deploy restarted slapd for its new configuration
        publish()                                   # store1 is an MX too: the lab DNS names both
        yield lab.load_hosts()[SECOND]
    finally:
        lab.remove([SECOND])
        publish()
        if not NEXT_DEPLOYS:
            redeploy_for_module()
            env.admin = directory.connect(env.s)


def entries(host: lab.Host, base: str, ldap_filter: str = "(objectClass=*)") -> list[str]:
    """The DNs under `base` that the host's own slapd holds (root over ldapi://)."""
    found = lab.ssh(host, [f"ldapsearch -Y EXTERNAL -Q -H ldapi:/// -LLL -o ldif-wrap=no -b '{base}' '{ldap_filter}' 1.1"],
                    check=False)
    return sorted(line for line in found.stdout.splitlines() if line.startswith("dn: "))


def eventually(found, wait: float = 60.0):
    deadline = time.monotonic() + wait
    while not (value := found()) and time.monotonic() < deadline:
        time.sleep(1)
    return value


def test_the_inventory_makes_the_lab_host_a_second_provider(provider, env):
    providers = settings.load(None, Path(env.s.inventory)).directory_providers
    assert [(p.server_id, p.name) for p in providers] == [(1, env.host.name), (2, SECOND)]


def test_the_second_provider_holds_the_mail_hosts_tree(provider, env):
    base = env.s.base_dn
    assert eventually(lambda: entries(provider, base) == entries(env.host, base)), \
        set(entries(env.host, base)) ^ set(entries(provider, base))


def test_a_mailbox_made_on_the_mail_host_reaches_the_second_provider(provider, env):
    dn, _, _ = new_mailbox(env)
    assert eventually(lambda: entries(provider, dn)), dn


def test_ldaps_is_closed_to_the_outside_on_both_providers(provider, env, outside):
    for host in (env.host, provider):
        found = connect_outcomes(outside, host, [layout.LDAPS_PORT])
        assert found == {str(layout.LDAPS_PORT): "ConnectionRefusedError"}, host.name


def test_the_store_answers_the_mail_host_alone(provider, env, outside):
    ports = [port for protocol, port in layout.STORE_PORTS.items() if protocol != "pop3" or "pop3" in env.s.protocols]
    assert connect_outcomes(outside, provider, ports) == {str(port): "ConnectionRefusedError" for port in ports}
    assert connect_outcomes(env.host, provider, ports) == {str(port): "open" for port in ports}


def copy_now(store: lab.Host, wait: int = 400) -> None:
    """A run of the store's partner copy (the timer's service) now, waited for; on a failure or a run longer than
    `wait`, what its journal says and the doveadm processes still running."""
    copied = lab.ssh(store, [f"timeout {wait} systemctl start govmail-store-copy.service"], check=False,
                     timeout=wait + 30)
    seen = lab.ssh(store, ["journalctl -u govmail-store-copy -n 20 -o cat; ps -eo etime,args | grep [d]oveadm"],
                   check=False).stdout
    assert copied.returncode == 0, f"exit {copied.returncode}: {copied.stderr}\n{seen}"


def test_the_monitor_watches_the_stores_services_and_copies(provider, env, outside, monitor):
    """store1's node exporter answers the monitoring server alone; Prometheus sees store1's slapd, Dovecot and copy
    timer running and what its copy to its partner did; the copy alerts fire on a failing copy and on an old one
    (promtool, on the rules as deployed), not on a healthy one."""
    s = settings.load(None, Path(env.s.inventory))      # with store1 (env.s was read before it joined)
    node = layout.MONITOR_PORTS["node"]
    assert connect_outcomes(outside, provider, [node]) == {str(node): "ConnectionRefusedError"}
    assert connect_outcomes(lab.load_hosts()["monitor"], provider, [node]) == {str(node): "open"}
    copy_now(provider)
    units = set(directory_host_units(s, SECOND))
    active = settled(monitor, f'node_systemd_unit_state{{state="active",instance="{SECOND}"}} == 1',
                     lambda result: unit_names(result) == units)
    assert unit_names(active) == units
    copies = settled(monitor, f'govmail_store_copy_failures{{instance="{SECOND}"}}', bool)
    assert [(r["metric"]["store"], r["metric"]["partner"], r["value"][1]) for r in copies] == [
        (SECOND, s.store_partners[SECOND], "0")]
    assert settled(monitor, f'time() - govmail_store_copy_last_success_timestamp_seconds{{store="{SECOND}"}} < 300', bool)
    status = govmail("status", check=False).stdout
    assert status_of(status, f"services on {SECOND}") == f"{len(units)}/{len(units)} running", status
    assert status_of(status, f"copy {SECOND} -> {s.store_partners[SECOND]}").startswith("last whole copy"), status
    labels = {"store": SECOND, "partner": s.store_partners[SECOND]}
    failures = series("govmail_store_copy_failures", **labels)
    last = series("govmail_store_copy_last_success_timestamp_seconds", **labels)
    old = 3 * s.store_copy_seconds
    faulty = {failures: "1x40", last: f"-{old}x40"}
    healthy = {failures: "0x40", last: f"{old}x40"}
    alerts = ("StoreCopyFailing", "StoreCopyOld")
    run_rule_tests(monitor, {"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": [
        {"interval": "15s", "input_series": [{"series": k, "values": v} for k, v in faulty.items()],
         "alert_rule_test": [{"eval_time": "10m", "alertname": name,
                              "exp_alerts": [{"exp_labels": labels | {"severity": "critical"}}]} for name in alerts]},
        {"interval": "15s", "input_series": [{"series": k, "values": v} for k, v in healthy.items()],
         "alert_rule_test": [{"eval_time": "10m", "alertname": name, "exp_alerts": []} for name in alerts]}]})


def test_the_store_backs_its_mailboxes_up_into_a_repository_of_its_own(provider, env, deployment, monitor):
    """`govmail backup --store store1`: store1's run snapshots the mailboxes stored there under its own name, the
    monitoring sees it succeed, and a message comes back from it. store1's password at the backup host opens
    store1's repository alone (not the mail host's, which holds the directory) and deletes nothing there; the
    mail host's steps (a whole host, a directory entry) are refused on a store, naming why."""
    _, address, password = mailbox_on_the_second_store(env, provider)
    token = uuid.uuid4().hex
    submit(env, address, password, message(address, address, f"Sao lưu {token}"))
    assert len(inbox_subjects(env, address, password, wait=15)) == 1
    assert '"result": "ok"' in govmail("backup", "run", "--store", SECOND).stdout
    found = json.loads(govmail("backup", "snapshots", "--json", "--store", SECOND).stdout)
    assert [(snap["hostname"], sorted(snap["paths"])) for snap in found][-1:] == [
        (SECOND, sorted([layout.VMAIL, "/etc", "/var/lib/govmail"]))]
    ran = settled(monitor, f'govmail_backup_last_run_success{{instance="{SECOND}"}}', bool)
    assert [r["value"][1] for r in ran] == ["1"]
    status = govmail("status", check=False).stdout
    assert status_of(status, f"last backup of {SECOND}").endswith("hours ago"), status
    local, domain = address.split("@")
    target = f"/var/tmp/store-restore-{token[:8]}"
    govmail("backup", "restore", "files", "--store", SECOND, "--target", target,
            "--include", f"{layout.VMAIL}/{domain}/{local}")
    try:
        restored = lab.ssh(provider, [f"grep -rl {token} {target}"], check=False).stdout.split()
        assert len([path for path in restored if "/Maildir/new/" in path or "/Maildir/cur/" in path]) == 1, restored
    finally:
        lab.ssh(provider, ["rm", "-rf", target])
    refused = govmail("backup", "restore", "host", "--store", SECOND, check=False)
    assert (refused.returncode, "is a store host" in refused.stderr) == (2, True), refused.stderr
    stolen = (deployment.secrets.directory / f"backup-rest-{SECOND}.password").read_text().strip()
    mail_host = env.s.mail_host
    assert rest(provider, "GET", f"/{SECOND}/config", SECOND, stolen) == "200"
    assert rest(provider, "GET", f"/{mail_host}/config", SECOND, stolen) in ("401", "403")
    assert rest(provider, "GET", f"/{mail_host}/config", mail_host, stolen) == "401"
    assert rest(provider, "DELETE", f"/{SECOND}/snapshots/{found[-1]['id']}", SECOND, stolen) == "403"


@pytest.fixture(scope="module")
def outside_mta(outside):
    """`outside`'s own Postfix (Debian's), which finds the province's MX hosts in the lab DNS and tries the next
    when one does not answer, as any mail server of the internet does."""
    lab.ssh(outside, ["DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null && "
                      "postconf -e myhostname=mail.ngoai.test mydestination= inet_interfaces=loopback-only "
                      "smtp_address_preference=ipv4 && systemctl restart postfix"], timeout=600)
    return outside


def mta_send(outside, to: str, subject: str) -> None:
    text = f"From: tin@ngoai.test\nTo: {to}\nSubject: {subject}\nMessage-ID: {make_msgid(domain='ngoai.test')}\n\nThu thu.\n"
    subprocess.run(lab.ssh_command(outside, ["/usr/sbin/sendmail", "-f", "tin@ngoai.test", "--", to]), input=text,
                   text=True, check=True, timeout=60)


@pytest.mark.parametrize("stopped", ["the mail host", SECOND])
def test_with_one_mx_stopped_mail_from_outside_arrives_through_the_other(provider, env, outside_mta, stopped):
    """outside's Postfix follows the province's MX records (the mail host and store1, the same preference): with
    one MX's Postfix stopped, mail for a mailbox on each store arrives through the other, and nothing bounces or
    waits on outside."""
    stopped_host, other = (env.host, SECOND) if stopped == "the mail host" else (provider, env.s.mail_host)
    _, here, _ = new_mailbox(env)
    _, there, _ = mailbox_on_the_second_store(env, provider)
    tag = uuid.uuid4().hex[:8]
    lab.ssh(stopped_host, ["systemctl stop postfix"])
    try:
        for n in range(3):
            for to in (here, there):
                mta_send(outside_mta, to, f"mx {tag} {n}")
        assert eventually(lambda: delivered_count(env, here) == 3 and len(stored_on(provider, there)) == 3, wait=180), \
            (delivered_count(env, here), stored_on(provider, there),
             lab.ssh(outside_mta, ["postqueue -p | tail -20"], check=False).stdout)
    finally:
        lab.ssh(stopped_host, ["systemctl start postfix"])
    hops = [[str(hop) for hop in msg.get_all("Received")] for msg in messages(env, here)]
    assert all(any(f"by {other} " in hop for hop in received) for received in hops), hops
    assert lab.ssh(outside_mta, ["postqueue -j"], check=False).stdout.strip() == ""


def test_the_second_mx_refuses_what_the_mail_host_refuses(provider, env, outside):
    """From outside, straight to store1's port 25: it greets with its own name over a certificate naming it, relays
    nothing, takes no province sender from outside and no virus (its own filter chain); the mail host's LMTP
    and quota-status listeners, which the MX hosts use, are closed to the outside."""
    mx = dataclasses.replace(env, address=provider.address)
    _, official, _ = new_mailbox(env)
    found = probe(outside, mx, f"""
        with smtplib.SMTP(HOST, 25, timeout=60) as s:
            s.ehlo("mail.ngoai.test")
            s.starttls(context=ssl._create_unverified_context())
            cert = s.sock.getpeercert(True).hex()
            s.ehlo("mail.ngoai.test")
            s.mail("tin@ngoai.test")
            relay = s.rcpt("someone@elsewhere.test")
        with smtplib.SMTP(HOST, 25, timeout=60) as s:
            s.ehlo("mail.ngoai.test")
            spoof = s.mail("giamdoc@{env.s.domain}")
            if spoof[0] < 400:
                spoof = s.rcpt("{official}")
        with smtplib.SMTP(HOST, 25, timeout=60) as s:
            s.ehlo("mail.ngoai.test")
            s.mail("tin@ngoai.test")
            s.rcpt("{official}")
            virus = s.data(("From: tin@ngoai.test\\r\\nTo: {official}\\r\\nSubject: tep\\r\\n\\r\\n" + {EICAR!r}).encode())
        out(relay=[relay[0], relay[1].decode()], spoof=[spoof[0], spoof[1].decode()],
            virus=[virus[0], virus[1].decode()], cert=cert)
    """)
    assert found["relay"][0] == 554 and "Relay access denied" in found["relay"][1], found
    assert found["spoof"][0] == 550 and "must log in" in found["spoof"][1], found
    assert found["virus"][0] >= 500, found
    cert = x509.load_der_x509_certificate(bytes.fromhex(found["cert"]))
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [SECOND]
    ports = [layout.STORE_PORTS["lmtp"], layout.STORE_PORTS["quota_status"]]
    assert connect_outcomes(outside, env, ports) == {str(port): "ConnectionRefusedError" for port in ports}


def test_the_monitor_watches_the_second_mxs_queue(provider, env, outside, monitor):
    """store1's Postfix exporter answers the monitoring server alone; a message store1 cannot hand to the mail
    host (store1's way to the mail host's LMTP cut) waits in store1's queue, and Prometheus and `govmail status`
    count it there, apart from the mail host's queue; it is delivered once the way is open again. (Stopping the
    mail host's Dovecot instead would throttle its submission service for a minute: Postfix's smtpd cannot reach
    the auth socket.)"""
    port = layout.MONITOR_PORTS["postfix"]
    assert connect_outcomes(outside, provider, [port]) == {str(port): "ConnectionRefusedError"}
    assert connect_outcomes(lab.load_hosts()["monitor"], provider, [port]) == {str(port): "open"}
    _, to, password = new_mailbox(env)
    subject = f"queued on {SECOND} {uuid.uuid4().hex[:8]}"
    cut = (f"nft add table inet govmail_drill && nft 'add chain inet govmail_drill out {{ type filter hook output "
           f"priority 0; }}' && nft add rule inet govmail_drill out ip daddr {env.host.address} tcp dport "
           f"{layout.STORE_PORTS['lmtp']} reject with tcp reset")
    lab.ssh(provider, [cut])
    try:
        text = f"From: root@{SECOND}\nTo: {to}\nSubject: {subject}\n\nCho trong hang doi.\n"
        subprocess.run(lab.ssh_command(provider, ["/usr/sbin/sendmail", "-f", f"root@{SECOND}", "--", to]),
                       input=text, text=True, check=True, timeout=60)
        waiting = settled(monitor, f'sum by (instance) (postfix_showq_message_age_seconds_count{{instance="{SECOND}"}}) >= 1',
                          bool)
        assert waiting, lab.ssh(provider, ["postqueue -p"], check=False).stdout
        status = govmail("status", check=False).stdout
    finally:
        lab.ssh(provider, ["nft delete table inet govmail_drill"])
    queues = status_of(status, f"mail queues on {SECOND}")
    assert any(f"{queue} 1" in queues for queue in ("active", "deferred", "incoming")), status
    lab.ssh(provider, ["postqueue -f"])
    assert eventually(lambda: subject in inbox_subjects(env, to, password), wait=120)


def stored_on(host: lab.Host, address: str) -> list[str]:
    """The message files of a mailbox on a host's disk (every folder)."""
    local, domain = address.split("@")
    found = lab.ssh(host, [f"find {layout.VMAIL}/{domain}/{local}/Maildir -type f -path '*/new/*' -o "
                           f"-type f -path '*/cur/*'"], check=False)
    return found.stdout.split()


def mailbox_on_the_second_store(env, provider, **attrs) -> tuple[str, str, str]:
    """A mailbox naming store1, once its entry reached store1's own slapd (which that Dovecot reads)."""
    dn, address, password = new_mailbox(env, govmailStore=SECOND, **attrs)
    assert eventually(lambda: entries(provider, dn)), f"{dn} replicated to {SECOND}"
    return dn, address, password


def test_a_mailbox_on_the_second_store_is_reached_through_the_mail_host(provider, env):
    """Submitted and read through the mail host; on disk on store1 alone. store1 logs the user's own address
    (the proxy passes it on; store1 trusts the mail host to)."""
    _, address, password = mailbox_on_the_second_store(env, provider)
    subject = f"Thư trên máy lưu trữ thứ hai {uuid.uuid4().hex[:6]}"
    submit(env, address, password, message(address, address, subject))
    assert inbox_subjects(env, address, password, wait=15) == [subject]
    assert (len(stored_on(provider, address)), stored_on(env.host, address)) == (1, [])
    log = lab.ssh(provider, [f"journalctl --since -10min -o cat | grep -F {shlex.quote(f'Logged in: user=<{address}>')}"],
                  check=False).stdout.splitlines()
    assert log and all(f"rip={GATEWAY}," in line for line in log), log


def test_a_full_mailbox_on_the_second_store_refuses_the_next_message_at_rcpt(provider, env):
    """The mail host's Postfix asks store1's quota-status (its own would see an empty mailbox there): a full
    mailbox is refused before the message is accepted, as on the mail host, and never bounced afterwards."""
    _, sender, sender_password = new_mailbox(env)
    _, small, _ = mailbox_on_the_second_store(env, provider, quota=200_000)
    for n in (1, 2):     # 150 KB fits; the second goes over through Dovecot's quota grace
        submit(env, sender, sender_password, message(sender, small, body="x" * 150_000))
        eventually(lambda: len(stored_on(provider, small)) >= n, wait=10)   # on store1's disk, not the mail host's
    assert len(stored_on(provider, small)) >= 2
    code, reply = rcpt_reply(env, sender, sender_password, small)
    assert code == 552 and b"Mailbox full" in reply, reply


def test_the_store_offers_starttls_with_a_certificate_the_mail_host_checks(provider, env):
    """What the proxy's `starttls = yes` meets: the store's name under the inventory's internal CA. (Checked by
    hand: with another CA in ssl_client_ca_file the mail host refuses to proxy, `Received invalid SSL
    certificate`, and the user gets [UNAVAILABLE].)"""
    checked = lab.ssh(env.host, [f"openssl s_client -starttls imap -connect {SECOND}:{layout.STORE_PORTS['imap']} "
                                 f"-servername {SECOND} -CAfile {layout.SLAPD_DIR}/tls-ca.crt -verify_hostname {SECOND} "
                                 "-verify_return_error </dev/null"], check=False)
    assert "Verify return code: 0 (ok)" in checked.stdout, checked.stdout[-2000:] + checked.stderr[-2000:]
    # store1 is a front too: asked for no name (a user at the floating address), it presents the public certificate
    public = lab.ssh(env.host, [f"openssl s_client -starttls imap -connect {SECOND}:{layout.STORE_PORTS['imap']} "
                                f"-noservername -CAfile {layout.SLAPD_DIR}/tls-ca.crt -verify_hostname {env.s.mail_host} "
                                "-verify_return_error </dev/null"], check=False)
    assert "Verify return code: 0 (ok)" in public.stdout, public.stdout[-2000:] + public.stderr[-2000:]


def imap_session_outcome(env, address: str, password: str) -> str:
    """One mail program's visit through the mail host: "ok", "stalled at <step>" (no answer in 15 s) or
    "failed at <step>" (an IMAP error)."""
    step = "connect"
    try:
        conn = imaplib.IMAP4_SSL(env.address, 993, ssl_context=env.tls, timeout=15)
        for step, command in (("login", lambda: conn.login(address, password)),
                              ("select", lambda: conn.select("INBOX", readonly=True)),
                              ("fetch", lambda: conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")),
                              ("logout", conn.logout)):
            command()
    except TimeoutError:
        return f"stalled at {step}"
    except (OSError, imaplib.IMAP4.error) as error:
        return f"failed at {step}: {error}"
    return "ok"


def test_150_imap_sessions_through_the_proxy_all_answer(provider, env):
    """Three mail programs at once, 50 visits each, to a mailbox on store1. Dovecot 2.4.1 stalled 3-4 in 100
    such sessions after login while its leg to the store was TLS and multiplexed (stop 31: 6-17 of 300-450;
    0 of 600 with that leg in plain text); the proxy now asks for no multiplexing (proxy_no_multiplex), and
    with a 3 % stall rate 150 sessions would all answer once in 100 runs."""
    _, address, password = mailbox_on_the_second_store(env, provider)
    for n in range(3):
        submit(env, address, password, message(address, address, f"Thư số {n}"))
    assert inbox_subjects(env, address, password, wait=15)
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda _: imap_session_outcome(env, address, password), range(150)))
    assert Counter(outcomes) == {"ok": 150}


def test_webmail_opens_a_mailbox_on_the_second_store(provider, env, browser):
    """Roundcube on the mail host logs in over loopback: that login is proxied to store1 as a mail program's is."""
    from webpage import log_in, open_inbox_with
    _, address, password = mailbox_on_the_second_store(env, provider)
    subject = f"Đọc trên webmail từ máy lưu trữ thứ hai {uuid.uuid4().hex[:6]}"
    submit(env, address, password, message(address, address, subject))
    log_in(browser, env, address, password)
    open_inbox_with(browser, env, subject)
    assert stored_on(env.host, address) == []


def test_the_mail_hosts_sieve_forward_listener_answers_the_stores_vmail_alone(provider, env, outside):
    """Mail relayed there skips the content filters: neither an outsider nor another user of a store may use it."""
    port = layout.PORTS["sieve_forward"]
    assert connect_outcomes(outside, env.host, [port]) == {str(port): "ConnectionRefusedError"}
    assert connect_outcomes(provider, env.host, [port]) == {str(port): "ConnectionRefusedError"}
    assert connect_outcomes(provider, env.host, [port], user="vmail") == {str(port): "open"}


def test_sieve_on_the_second_store_redirects_and_replies_through_the_mail_host(provider, env):
    """A mailbox on store1 keeps a copy for a colleague and answers while its owner is away: both messages
    leave store1, which has no Postfix, through the mail host's sieve-forward listener (STARTTLS)."""
    _, away, _ = mailbox_on_the_second_store(env, provider)
    _, colleague, colleague_password = new_mailbox(env)
    _, writer, writer_password = new_mailbox(env)
    script = (f'require ["vacation", "copy"];\nredirect :copy "{colleague}";\n'
              'vacation :days 1 :subject "Vang mat" "Toi di cong tac den thu Hai.";\n')
    subprocess.run(lab.ssh_command(provider, [f"doveadm sieve put -u {away} -a away"]), input=script, text=True,
                   check=True, timeout=60)
    subject = f"Gửi người đang đi công tác {uuid.uuid4().hex[:6]}"
    submit(env, writer, writer_password, message(writer, away, subject))
    assert inbox_subjects(env, colleague, colleague_password, wait=30) == [subject]
    assert inbox_subjects(env, writer, writer_password, wait=30) == ["Vang mat"]


def test_a_locked_mailbox_on_the_second_store_still_receives_there(provider, env):
    """Delivery looks the mailbox up with the delivery filter: a locked one's mail reaches its store too."""
    dn, address, password = mailbox_on_the_second_store(env, provider)
    assert env.admin.modify(dn, {"govmailLoginEnabled": [(ldap3.MODIFY_REPLACE, ["FALSE"])]})
    assert eventually(lambda: entries(provider, dn, "(govmailLoginEnabled=FALSE)")), "the lock replicated"
    _, sender, sender_password = new_mailbox(env)
    submit(env, sender, sender_password, message(sender, address, "Thư cho hộp thư đã khóa"))
    assert eventually(lambda: len(stored_on(provider, address)) == 1, wait=30), stored_on(env.host, address)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, address, password)


def queued_for(env, address: str) -> list[dict]:
    """The messages Postfix holds for `address`, from `postqueue -j` on the host."""
    listing = lab.ssh(env.host, ["postqueue", "-j"]).stdout
    return [m for m in map(json.loads, listing.splitlines())
            if any(r["address"] == address for r in m["recipients"])]


def test_with_the_stores_dovecot_stopped_its_mail_waits_and_nothing_bounces(provider, env):
    """The users of a store that does not answer: logins refused as temporarily unavailable, their mail
    deferred (4xx) in the mail host's queue, no bounce; delivered once the store answers again."""
    _, sender, sender_password = new_mailbox(env)
    _, address, password = mailbox_on_the_second_store(env, provider)
    lab.ssh(provider, ["systemctl", "stop", "dovecot"])
    try:
        with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
            imap_login(env, address, password)
        subject = f"Chờ kho thư {uuid.uuid4().hex[:6]}"
        submit(env, sender, sender_password, message(sender, address, subject))
        held = eventually(lambda: [m for m in queued_for(env, address) if m["queue_name"] == "deferred"], wait=30)
        assert held, queued_for(env, address)
        reason = held[0]["recipients"][0]["delay_reason"]
        assert "451 4.4.0 Proxy failed" in reason, reason
        assert wait_delivered(env, sender, 1, wait=3) == 0, "no bounce reached the sender"
    finally:
        lab.ssh(provider, ["systemctl", "start", "dovecot"])
    lab.ssh(env.host, ["postqueue", "-f"])
    assert inbox_subjects(env, address, password, wait=60) == [subject]
    assert len(stored_on(provider, address)) == 1


def imap_message_ids(env, address: str, password: str) -> list[str]:
    """The Message-IDs in the INBOX, read as a mail program reads them (through the mail host)."""
    conn = imap_login(env, address, password)
    total = int(conn.select("INBOX", readonly=True)[1][0])
    found = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")[1] if total else []
    conn.logout()
    return [item[1].decode().split(":", 1)[1].strip() for item in found if isinstance(item, tuple)]


def test_a_mailbox_moves_to_the_second_store_while_100_messages_arrive(provider, env, outside):
    """`govmail account move` while `outside` sends 100 messages to the mailbox over port 25 (as another mail
    server does): afterwards the directory names store1, and the mailbox holds each of the 100 once, read
    through the mail host from store1."""
    count, tag = 100, uuid.uuid4().hex[:8]
    dn, address, password = new_mailbox(env)
    assert eventually(lambda: entries(provider, dn)), f"{dn} replicated to {SECOND}"
    # Mail already there (4 messages of 40 MB): the first copy takes seconds, and messages of the stream reach
    # the old store meanwhile, as they would during any real mailbox's copy; only the sync after the switch
    # brings them over (checked: without it this test fails).
    lab.ssh(env.host, [f"for n in 1 2 3 4; do (printf 'Subject: old {tag} $n\\nMessage-ID: <old-$n-{tag}@lab>\\n\\n'; "
                       f"head -c 30000000 /dev/urandom | base64) | /usr/lib/dovecot/dovecot-lda -d {address}; done"])
    script = "/tmp/govmail-stream.py"
    subprocess.run(lab.ssh_command(outside, [f"cat > {script}"]), input=OUTSIDE_SENDER, text=True, check=True,
                   timeout=60)
    sender = subprocess.Popen(lab.ssh_command(outside, ["python3", script, env.address, address, tag, str(count)]),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert eventually(lambda: delivered_count(env, address) >= 10, wait=120), "the stream reached the mailbox"
    moved = govmail("account", "move", address, SECOND, "--reason", "drill")
    out, err = sender.communicate(timeout=400)
    sent = json.loads(out.strip().splitlines()[-1])["outcome"] if out.strip() else {}
    assert len(sent) == count and set(sent.values()) == {250}, err[-2000:]
    lab.ssh(env.host, ["postqueue", "-f"])
    streamed = lambda: [i for i in imap_message_ids(env, address, password) if i.startswith(f"<{tag}-out-")]  # noqa: E731
    arrived = eventually(lambda: ids if len(ids := streamed()) >= count else None, wait=120) or streamed()
    assert sorted(arrived) == sorted(sent), (f"missing {sorted(set(sent) - set(arrived))[:5]}, "
                                             f"twice {[i for i in set(arrived) if arrived.count(i) > 1][:5]}")
    assert entries(provider, dn, f"(govmailStore={SECOND})"), moved.stderr
    assert len(stored_on(provider, address)) == count + 4


def status_once_metrics_ran(env) -> str:
    """`govmail status` after the mail host's metrics job ran now (the timer runs it every minute) and
    Prometheus scraped it (every 15 s)."""
    lab.ssh(env.host, ["systemctl", "start", "govmail-metrics.service"], check=False)
    time.sleep(16)
    return govmail("status", check=False).stdout


def status_of(status: str, what: str) -> str:
    """What `govmail status` says of one thing (a replication stream: "streaming", "NOT streaming, ...")."""
    return next((line.strip()[len(what):].strip() for line in status.splitlines() if line.strip().startswith(what)),
                "(no line)")


def test_an_operator_writes_through_the_second_provider_while_the_mail_hosts_slapd_is_down(provider, env):
    """govmail falls back on the next provider that answers; the mail host has the entry once its slapd runs."""
    tag = uuid.uuid4().hex[:6]
    lab.ssh(env.host, ["systemctl", "stop", "slapd"])
    try:
        line = govmail("account", "add", "--kind", "agency", "--name", f"Sở Dự phòng {tag}",
                       "--abbrev", f"sdp{tag}").stdout
    finally:
        lab.ssh(env.host, ["systemctl", "start", "slapd"])
    env.admin = directory.connect(env.s)
    address = line.split("\t")[0]
    made = f"(mail={address})"
    assert entries(provider, env.s.base_dn, made), "written on the second provider"
    assert eventually(lambda: entries(env.host, env.s.base_dn, made)), "replicated to the mail host"


def with_id(msg):
    """The message with a Message-ID of its own (a mail program's; Postfix adds none to submitted mail)."""
    msg["Message-ID"] = make_msgid(domain="kiemthu.lab")
    return msg


class FloatingIMAP(imaplib.IMAP4_SSL):
    """IMAP over TLS to the floating address, checking the certificate against mail.<domain>, the name users
    give their mail programs."""

    def __init__(self, name: str, context: ssl.SSLContext, timeout: float):
        self.name = name
        super().__init__(lab.FLOATING_ADDRESS, 993, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.name)


def floating_login(env, address: str, password: str, timeout: float = 10) -> str:
    """What a login at the floating address comes to: 'OK', or the refusal or error."""
    context = ssl.create_default_context(cadata=(env.secrets_dir / "ca.crt").read_text())
    try:
        conn = FloatingIMAP(env.s.mail_host, context, timeout)
        try:
            conn.login(address, password)
            conn.select("INBOX", readonly=True)
            return "OK"
        finally:
            with contextlib.suppress(Exception):
                conn.logout()
    except (OSError, imaplib.IMAP4.error) as err:
        return f"{type(err).__name__}: {err}"


def floating_submit(env, sender: str, password: str, msg) -> None:
    """Submission (587, STARTTLS) at the floating address, the certificate checked against mail.<domain>."""
    context = ssl.create_default_context(cadata=(env.secrets_dir / "ca.crt").read_text())
    with smtplib.SMTP(lab.FLOATING_ADDRESS, 587, timeout=30) as conn:
        conn.ehlo("client.lab")
        conn._host = env.s.mail_host          # the name starttls checks the certificate against
        conn.starttls(context=context)
        conn.ehlo("client.lab")
        conn.login(sender, password)
        conn.send_message(msg)


def floating_webmail_login(env, address: str, password: str, refresh_minutes: int | None = None,
                           at: str = lab.FLOATING_ADDRESS) -> str:
    """What a webmail login at the floating address (or `at`) comes to: 'OK' once Roundcube shows the mail, or the error.
    The page's certificate is checked against mail.<domain>. With `refresh_minutes`, the user then saves that
    setting (Settings, Preferences, User interface: how often the mail list is refreshed), as a user does."""
    context = ssl.create_default_context(cadata=(env.secrets_dir / "ca.crt").read_text())
    try:
        with context.wrap_socket(socket.create_connection((at, 443), timeout=10), server_hostname=env.s.mail_host):
            pass
        opener, base, headers, token = webmail_session(dataclasses.replace(env, address=at))
        form = urllib.parse.urlencode({"_token": token, "_task": "login", "_action": "login", "_timezone": "UTC",
                                       "_user": address, "_pass": password}).encode()
        page = opener.open(urllib.request.Request(base + "?_task=login", data=form, headers=headers), timeout=60)
        if "_task=mail" not in page.geturl():
            return f"ended at {page.geturl()}"
        if refresh_minutes is not None:
            token = re.search(r'"request_token":"([^"]+)"', page.read().decode()).group(1)
            form = urllib.parse.urlencode({"_token": token, "_task": "settings", "_action": "save-prefs",
                                           "_section": "general", "_refresh_interval": refresh_minutes}).encode()
            opener.open(urllib.request.Request(base + "?_task=settings&_action=save-prefs", data=form,
                                               headers=headers), timeout=60).read()
        return "OK"
    except (OSError, AttributeError) as err:       # no login form: AttributeError from its search
        return f"{type(err).__name__}: {err}"


def webmail_db(host: lab.Host, query: str) -> str:
    """A query on the host's own PostgreSQL (Roundcube's database), as its superuser."""
    return lab.ssh(host, [f"runuser -u postgres -- psql -XAtq -d roundcube -c {shlex.quote(query)}"],
                   check=False).stdout.strip()


def webmail_db_role(host: lab.Host) -> str:
    """'primary', or 'standby streaming from <address>', or what stops it being either."""
    found = lab.ssh(host, ["runuser -u postgres -- psql -XAtq -d postgres -c 'select pg_is_in_recovery()' "
                           "-c 'select status, sender_host from pg_stat_wal_receiver'"], check=False)
    lines = found.stdout.split()
    if found.returncode or not lines:
        return f"no answer: {found.stderr.strip()}"
    if lines[0] == "f":
        return "primary"
    return f"standby {lines[1].replace('|', ' from ')}" if len(lines) > 1 else "standby not streaming"


def user_preferences(host: lab.Host, address: str) -> list[str]:
    """Roundcube's stored preferences of each users row for this address on the host's database (one row each)."""
    return webmail_db(host, f"select preferences from users where username = '{address}'").splitlines()


def test_the_fronts_submission_and_webmail_answer_at_the_floating_address_alone(provider, env, outside):
    """store1's Postfix opens 587 and 465 and its nginx 80 and 443 as a front; from outside, its own address
    refuses them. Its fail2ban watches the logins it serves there."""
    ports = [80, 443, layout.CLIENT_PORTS["submission"], layout.CLIENT_PORTS["submissions"]]
    assert connect_outcomes(outside, provider, ports) == {str(port): "ConnectionRefusedError" for port in ports}
    listening = lab.ssh(provider, ["ss -Hltn"]).stdout
    assert all(f":{port} " in listening for port in ports), listening
    jails = lab.ssh(provider, ["fail2ban-client status"]).stdout
    assert "dovecot" in jails and "roundcube-auth" in jails, jails


def held_by(env) -> str:
    """Who `govmail status` says holds the floating address (from the monitor host's Prometheus)."""
    return status_of(govmail("status", check=False).stdout, f"floating address {lab.FLOATING_ADDRESS}")


def test_the_monitor_alerts_unless_one_front_holds_the_floating_address(provider, env, monitor):
    """None holding it (users reach nothing there) or two (split between them) fire; one does not."""
    held = 'govmail_front_holds_floating_address{instance="%s"}'
    cases = {"none": ("0x40", "0x40", [{"exp_labels": {"severity": "critical"}}]),
             "both": ("1x40", "1x40", [{"exp_labels": {"severity": "critical"}}]),
             "one": ("1x40", "0x40", [])}
    run_rule_tests(monitor, {"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": [
        {"interval": "15s", "input_series": [{"series": held % env.s.mail_host, "values": mail},
                                             {"series": held % SECOND, "values": second}],
         "alert_rule_test": [{"eval_time": "10m", "alertname": "FloatingAddressNotHeldOnce", "exp_alerts": fired}]}
        for mail, second, fired in cases.values()]})


def test_the_monitor_alerts_unless_one_webmail_database_primary_and_its_standby_streaming(provider, env, monitor):
    """No primary (webmail saves nothing) or two (changes split between them) is critical; a standby that does
    not stream (a failover would promote stale data) is a warning; one primary and a streaming standby fire
    nothing. And the metrics are there: each front's timer says what its server is now."""
    primary, streaming = 'govmail_webmail_db_primary{instance="%s"}', 'govmail_webmail_db_streaming{instance="%s"}'
    cases = {"none": ("0x40", "0x40", "0x40", [{"exp_labels": {"severity": "critical"}}],
                      [{"exp_labels": {"severity": "warning", "instance": name}} for name in (env.s.mail_host, SECOND)]),
             "both": ("1x40", "1x40", "0x40", [{"exp_labels": {"severity": "critical"}}], []),
             "stale standby": ("1x40", "0x40", "0x40", [], [{"exp_labels": {"severity": "warning",
                                                                            "instance": SECOND}}]),
             "one": ("1x40", "0x40", "1x40", [], [])}
    run_rule_tests(monitor, {"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": [
        {"interval": "15s", "input_series": [{"series": primary % env.s.mail_host, "values": mail},
                                             {"series": streaming % env.s.mail_host, "values": "0x40"},
                                             {"series": primary % SECOND, "values": second},
                                             {"series": streaming % SECOND, "values": second_streams}],
         "alert_rule_test": [{"eval_time": "10m", "alertname": "WebmailDatabasePrimaryNotOne", "exp_alerts": one},
                             {"eval_time": "10m", "alertname": "WebmailDatabaseStandbyNotStreaming",
                              "exp_alerts": standby}]}
        for mail, second, second_streams, one, standby in cases.values()]})
    assert eventually(lambda: status_of(govmail("status", check=False).stdout, f"webmail database {SECOND}")
                      == "standby streaming", wait=120), govmail("status", check=False).stdout
    assert status_of(govmail("status", check=False).stdout, "webmail database") == f"primary on {env.s.mail_host}"


def test_the_single_nodes_webmail_data_is_in_the_shared_database_on_both_fronts(provider, env):
    """A setting saved in the single node's SQLite database (the provider fixture) was moved into PostgreSQL by the
    deploy that made store1 a front, once, and streamed to store1's standby."""
    address, = SINGLE_NODE_WEBMAIL_USER
    assert eventually(lambda: webmail_db_role(provider) == f"standby streaming from {lab.FLOATING_ADDRESS}"), \
        webmail_db_role(provider)
    for host in (env.host, provider):
        preferences = user_preferences(host, address)
        assert len(preferences) == 1 and '"refresh_interval";i:540;' in preferences[0], (host.name, preferences)


def test_roundcubes_database_answers_the_other_front_alone_over_tls(provider, env, outside):
    """PostgreSQL's port is refused to the outside at each front's own address and at the floating address; the
    standby's stream is TLS, as the replicator role (the only role pg_hba lets in from the network)."""
    for address in (env.host.address, provider.address, lab.FLOATING_ADDRESS):
        found = connect_outcomes(outside, dataclasses.replace(env, address=address), [layout.PG_PORT])
        assert found == {str(layout.PG_PORT): "ConnectionRefusedError"}, (address, found)
    def stream():
        return webmail_db(env.host, "select r.usename, r.client_addr, s.ssl from pg_stat_replication r "
                                    "join pg_stat_ssl s using (pid)")
    assert eventually(lambda: stream() == f"replicator|{provider.address}|t"), stream()


def holds_floating(host: lab.Host) -> bool:
    found = lab.ssh(host, ["ip -o -4 addr show"], check=False, timeout=20)
    return f" {lab.FLOATING_ADDRESS}/" in found.stdout


def test_with_the_front_holding_the_floating_address_lost_imap_webmail_and_submission_answer_there_again(
        provider, env, ldap_server, outside):
    """mail.<domain> is the floating address, held by the mail host while it runs (keepalived). The mail host lost
    (the host stopped): store1 takes the address over and answers IMAP there with the mail host's certificate,
    serving its own mailboxes (the mail host's answer 'temporarily unavailable': their store is down); the
    time until a login answers again is measured, and the webmail's. Submission answers there too, for users of either store: what
    they send waits in store1's queue while the mail host (the way to every mailbox) is down, and arrives,
    signed, once it runs again. A password guesser there is banned by store1's fail2ban before the mailbox would
    lock. Once the mail host runs again it holds the address again and its mailboxes answer there."""
    _, there, there_password = mailbox_on_the_second_store(env, provider)
    _, here, here_password = new_mailbox(env)
    guessed_dn, guessed, _ = mailbox_on_the_second_store(env, provider)
    _, newcomer, newcomer_password = mailbox_on_the_second_store(env, provider)    # first seen during the loss
    # VRRP settles within seconds of a deploy that restarted keepalived (the mail host takes the address back)
    assert eventually(lambda: holds_floating(env.host) and not holds_floating(provider), wait=30)
    assert (floating_login(env, here, here_password), floating_login(env, there, there_password)) == ("OK", "OK")
    assert floating_webmail_login(env, there, there_password) == "OK"
    assert eventually(lambda: held_by(env) == f"held by {env.s.mail_host}", wait=60), held_by(env)
    assert (webmail_db_role(env.host), webmail_db_role(provider)) == (
        "primary", f"standby streaming from {lab.FLOATING_ADDRESS}")
    # store1's way to the mail host's mailboxes (its proxy asks for the mail host by name): tried from the mail
    # host, which store1's firewall admits to its own address
    found = probe(env.host, dataclasses.replace(env, address=provider.address), f"""
        import imaplib
        conn = imaplib.IMAP4_SSL(HOST, 993, ssl_context=ssl._create_unverified_context(), timeout=30)
        conn.login("{here}", "{here_password}")
        out(select=conn.select("INBOX", readonly=True)[0])
    """)
    assert found == {"select": "OK"}, found
    stopping = time.monotonic()
    lab.lose([env.host.name])      # an orderly poweroff: keepalived gives the address up as it stops
    stopped = time.monotonic()
    try:
        outcome = eventually(lambda: floating_login(env, there, there_password) == "OK", wait=60)
        answered = time.monotonic()
        assert outcome, floating_login(env, there, there_password)
        print(f"\nIMAP at the floating address answered again {answered - stopping:.1f} s after the mail host began "
              f"to stop ({answered - stopped:.1f} s after it had stopped)")
        assert holds_floating(provider)
        outcome = eventually(lambda: floating_webmail_login(env, there, there_password) == "OK", wait=60)
        print(f"the webmail at the floating address let a user in {time.monotonic() - stopping:.1f} s after the mail "
              f"host began to stop")
        assert outcome, floating_webmail_login(env, there, there_password)
        # Roundcube's database there is store1's, promoted: a user new to the webmail saves a setting
        assert floating_webmail_login(env, newcomer, newcomer_password, refresh_minutes=7) == "OK"
        assert webmail_db_role(provider) == "primary"
        tag = uuid.uuid4().hex[:8]
        for sender, password in ((there, there_password), (here, here_password)):
            floating_submit(env, sender, password, with_id(message(sender, there, f"Gửi qua {SECOND} {tag}")))
        assert eventually(lambda: held_by(env) == f"held by {SECOND}", wait=60), held_by(env)
        with fresh_address(outside) as guesser:
            found = probe(outside, dataclasses.replace(env, address=lab.FLOATING_ADDRESS),
                          GUESS + f"guess([{guessed!r}], 12, {guesser!r})", timeout=600)
            banned = lab.ssh(provider, ["fail2ban-client get dovecot banip"], check=False).stdout
            lab.ssh(provider, [f"fail2ban-client unban {guesser}"], check=False)
        assert found["tried"] < env.s.policies["users"].max_failures and guesser in banned, (found, banned)
        refused = time.monotonic()
        outcome = floating_login(env, here, here_password, timeout=120)
        print(f"a login for a mailbox stored on the mail host: {outcome} after {time.monotonic() - refused:.1f} s")
        assert "UNAVAILABLE" in outcome
    finally:
        lab.up([env.host.name])
        env.host = lab.load_hosts()[env.host.name]
        state = lab.ssh(env.host, ["systemctl is-system-running --wait"], check=False, timeout=240).stdout.strip()
        env.admin, env.server = directory.connect(env.s), ldap_server()   # their SSH tunnels ended with the host
    assert state == "running", lab.ssh(env.host, ["systemctl --failed --no-legend"], check=False).stdout
    assert eventually(lambda: holds_floating(env.host) and floating_login(env, here, here_password) == "OK", wait=240), \
        floating_login(env, here, here_password)
    assert eventually(lambda: not holds_floating(provider), wait=30)
    # The mail host's database rejoined as store1's standby before its keepalived started, took the primary back
    # with the address, and store1's followed it: the setting saved during the loss is there, once, and the
    # mail host's webmail shows it.
    back = time.monotonic()
    assert eventually(lambda: webmail_db_role(provider) == f"standby streaming from {lab.FLOATING_ADDRESS}",
                      wait=120), webmail_db_role(provider)
    print(f"store1's database streamed from the mail host's again {time.monotonic() - back:.1f} s after the mail "
          f"host held the address")
    assert webmail_db_role(env.host) == "primary"
    assert floating_webmail_login(env, newcomer, newcomer_password) == "OK"
    preferences = user_preferences(env.host, newcomer)
    assert len(preferences) == 1 and '"refresh_interval";i:420;' in preferences[0], preferences
    lab.ssh(provider, ["postqueue -f"])       # rather than wait for the queue's next retry
    on_store1 = dataclasses.replace(env, host=provider)

    def sent():
        return [m for m in messages(on_store1, there) if tag in str(m["Subject"])]
    assert eventually(lambda: len(sent()) == 2, wait=60), lab.ssh(provider, ["postqueue -p"], check=False).stdout
    env.admin.search(guessed_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["pwdAccountLockedTime"])
    assert not env.admin.entries[0].entry_attributes_as_dict.get("pwdAccountLockedTime"), "the guessed mailbox"
    for msg in sent():
        assert any(f"by {SECOND} " in str(hop) and "ESMTPSA" in str(hop) for hop in msg.get_all("Received")), \
            msg.get_all("Received")
        assert f"d={env.s.domain};" in "".join(str(msg["DKIM-Signature"]).split()), msg["DKIM-Signature"]


def test_with_store1_lost_mail_flows_its_mailboxes_fail_over_and_come_back_whole(provider, env):
    """store1 lost (the host stopped, still in the inventory), as a directory provider and as a store. The directory: logins and mail go
    on, `govmail status` says the mail host no longer streams store1's changes and the DirectoryReplicationStopped
    alert fires; once store1 runs again it catches up and streams (slapd retries every 5 s for 5 minutes). The
    store: its copy job (govmail-store-copy, the timer's run started here) had put its mailboxes on the mail host,
    its partner; `govmail store failover` points them there: the user finds the mail up to that copy (what reached
    store1 after it is the loss window) and receives there. Once store1 runs, `govmail store failback` brings them
    back: every message, the one left on store1 included, is there once. The failover is refused while store1
    answers, the failback while it does not. Last in the module: it stops store1."""
    peer = f"directory {env.s.mail_host} <- ldaps://{SECOND}/"
    _, sender, sender_password = new_mailbox(env)
    _, address, password = mailbox_on_the_second_store(env, provider)
    submit(env, sender, sender_password, with_id(message(sender, address, "Trước bản sao")))
    assert eventually(lambda: len(stored_on(provider, address)) == 1, wait=30)
    copy_now(provider)
    assert len(stored_on(env.host, address)) == 1, "the partner holds the copy"
    submit(env, sender, sender_password, with_id(message(sender, address, "Sau bản sao")))
    assert eventually(lambda: len(stored_on(provider, address)) == 2, wait=30)
    refused = govmail("store", "failover", SECOND, "--reason", "diễn tập", check=False)
    assert refused.returncode == 2 and f"{SECOND} answers" in refused.stderr, refused.stderr
    lab.lose([SECOND])           # the inventory and the DNS go on naming it, as an operator's do
    try:
        dn, local, local_password = new_mailbox(env)
        imap_login(env, local, local_password).logout()
        submit(env, local, local_password, message(local, local, "Trong khi máy chủ thư mục thứ hai dừng"))
        assert wait_delivered(env, local, 1) == 1
        done = govmail("store", "failover", SECOND, "--reason", "diễn tập: máy lưu trữ hỏng")
        assert address in done.stdout.split(), done.stdout
        assert inbox_subjects(env, address, password, wait=15) == ["Trước bản sao"]
        submit(env, sender, sender_password, with_id(message(sender, address, "Sau chuyển đổi")))
        assert wait_delivered(env, address, 2, wait=30) == 2      # the copy's and this one
        assert sorted(inbox_subjects(env, address, password)) == ["Sau chuyển đổi", "Trước bản sao"]
        refused = govmail("store", "failback", SECOND, "--reason", "diễn tập", check=False)
        assert refused.returncode == 2 and f"{SECOND} does not answer" in refused.stderr, refused.stderr
        stopped = f"DirectoryReplicationStopped (ldaps://{SECOND}/)"
        status = eventually(lambda: out if stopped in (out := status_once_metrics_ran(env)) else None, wait=180)
        assert status, status_once_metrics_ran(env)
        assert status_of(status, peer).startswith("NOT streaming, last heard") and "NOT WELL" in status
    finally:
        lab.up([SECOND])
    again = lab.load_hosts()[SECOND]
    assert eventually(lambda: entries(again, dn), wait=120), f"{dn} reached the restarted provider"
    assert eventually(lambda: status_of(status_once_metrics_ran(env), peer) == "streaming", wait=120)
    back = eventually(lambda: (run := govmail("store", "failback", SECOND, "--reason", "diễn tập: đã sửa xong",
                                              check=False)).returncode != 2 and run, wait=60)
    assert back and back.returncode == 0 and address in back.stdout.split(), back and back.stderr
    ids = imap_message_ids(env, address, password)
    assert len(ids) == len(set(ids)) == 3, ids
    # store1 holds all three; the partner keeps what it held (the copy's and the new one) until an operator removes it
    assert (len(stored_on(again, address)), len(stored_on(env.host, address))) == (3, 2)
