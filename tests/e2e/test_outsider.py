"""The deployed host tried as an outsider would: real clients run on the lab host `outside` (its own address on
the lab bridge, not an operator network), with the Python and OpenSSL Debian ships there."""

import contextlib
import json
import secrets
import shlex
import subprocess
import textwrap

import ldap3
import pytest

from govmail import lab
from govmail.build.layout import PORTS

pytestmark = pytest.mark.e2e

PROBE_PRELUDE = """
import json, smtplib, socket, ssl, sys
HOST = {address!r}
def out(**kw):
    print(json.dumps(kw))
"""


def probe(outside, env, script: str, timeout: float = 120, user: str = "root") -> dict:
    """Run a Python script on `outside` (as `user`) against the mail host; its last printed line, as JSON."""
    code = PROBE_PRELUDE.format(address=env.address) + textwrap.dedent(script)
    as_user = [] if user == "root" else ["runuser", "-u", user, "--"]
    run = subprocess.run(lab.ssh_command(outside, [*as_user, "python3", "-"]), input=code, capture_output=True,
                         text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def on_outside(outside, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(lab.ssh_command(outside, [command]), capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def fresh_address(outside, host=None):
    """A new source address on `outside`, never seen before (postscreen and fail2ban remember addresses);
    removed afterwards, and unbanned on `host`."""
    address = f"10.213.0.{200 + secrets.randbelow(50)}"
    assert on_outside(outside, f"ip addr add {address}/32 dev host0").returncode in (0, 2)
    try:
        yield address
    finally:
        on_outside(outside, f"ip addr del {address}/32 dev host0")
        if host is not None:
            host.run("fail2ban-client unban %s", address)


def connect_outcomes(outside, env, ports: list[int], user: str = "root") -> dict[str, str]:
    """What a TCP connection from `outside` (as `user`) to each port of the mail host meets: "open", or the
    error."""
    return probe(outside, env, user=user, script=f"""
        result = {{}}
        for port in {ports!r}:
            try:
                socket.create_connection((HOST, port), timeout=5).close()
                result[str(port)] = "open"
            except OSError as err:
                result[str(port)] = type(err).__name__
        out(**result)
    """)


def test_the_directory_is_closed_to_the_network(outside, env, once):
    found = connect_outcomes(outside, env, [389, 636])
    assert found == {"389": "ConnectionRefusedError", "636": "ConnectionRefusedError"}


def test_the_operator_commands_still_reach_the_directory(env, once):
    """The CLI goes through SSH now (govmail.reach): what a newcomer runs from the README still works."""
    from mailflow import govmail
    assert "status           system" in govmail("account", "show", f"postmaster@{env.s.domain}").stdout


SEND = """
def send(sender, header_from, to):
    with smtplib.SMTP(HOST, 25, timeout=60) as s:
        s.ehlo("mail.ngoai.test")
        code, reply = s.mail(sender)
        if code >= 400:
            return out(stage="MAIL", code=code, reply=reply.decode())
        code, reply = s.rcpt(to)
        if code >= 400:
            return out(stage="RCPT", code=code, reply=reply.decode())
        msg = f"From: {header_from}\\r\\nTo: {to}\\r\\nSubject: Chi dao khan\\r\\n\\r\\nChuyen khoan ngay.\\r\\n"
        code, reply = s.data(msg.encode())
        out(stage="DATA", code=code, reply=reply.decode())
"""


def test_an_outsider_cannot_use_the_province_as_envelope_sender(outside, env):
    s = env.s
    from mailflow import new_mailbox
    _, official, _ = new_mailbox(env)
    found = probe(outside, env, SEND + f"send('giamdoc@{s.domain}', 'giamdoc@{s.domain}', '{official}')")
    assert found["code"] == 550 and found["stage"] in ("MAIL", "RCPT"), found
    assert "must log in" in found["reply"]


def test_an_outsider_cannot_put_the_province_in_the_from_header(outside, env):
    s = env.s
    from mailflow import new_mailbox
    _, official, _ = new_mailbox(env)
    found = probe(outside, env, SEND + f"send('someone@ngoai.test', 'So Tai chinh <stc@{s.domain}>', '{official}')")
    assert found["stage"] == "DATA" and found["code"] == 550, found
    assert "may not claim" in found["reply"]


def test_an_outsiders_own_mail_still_arrives(outside, env):
    from mailflow import inbox_subjects, new_mailbox
    _, official, password = new_mailbox(env)
    found = probe(outside, env, SEND + f"send('someone@ngoai.test', 'Nguoi ngoai <someone@ngoai.test>', '{official}')")
    assert found["stage"] == "DATA" and found["code"] == 250, found
    assert "Chi dao khan" in inbox_subjects(env, official, password)


def test_vrfy_tells_nothing(outside, env, once):
    found = probe(outside, env, """
        with smtplib.SMTP(HOST, 25, timeout=60) as s:
            s.ehlo("mail.ngoai.test")
            code, reply = s.verify("postmaster")
            out(code=code, reply=reply.decode())
    """)
    assert found["code"] == 502, found


def test_postscreen_turns_away_a_client_that_talks_first(outside, env, once):
    """A bot speaks before the greeting. A fresh source address each run: postscreen remembers the
    clients that passed."""
    with fresh_address(outside) as bot:
        found = probe(outside, env, f"""
            sock = socket.create_connection((HOST, 25), timeout=30, source_address=({bot!r}, 0))
            sock.sendall(b"EHLO bot.example\\r\\n")
            file = sock.makefile("rb")
            def reply():
                lines = [file.readline().decode()]
                while lines[-1][3:4] == "-":
                    lines.append(file.readline().decode())
                return lines
            banner = reply()[0]                      # the early EHLO gets no answer: postscreen dropped it
            lines = []
            for command in (b"MAIL FROM:<x@bot.example>\\r\\n", b"RCPT TO:<postmaster@{env.s.domain}>\\r\\n"):
                sock.sendall(command)
                lines.append(reply()[-1])
            out(banner=banner, answers=lines)
        """)
    assert found["banner"].startswith("220-"), found      # postscreen's multi-line greeting
    assert any(line.startswith("550") for line in found["answers"]), found


@pytest.mark.parametrize("port, starttls", [(587, "-starttls smtp"), (993, ""), (465, "")])
def test_tls_below_1_2_is_refused(outside, env, port, starttls, once):
    old = on_outside(outside, f"openssl s_client -connect {env.address}:{port} {starttls} -tls1_1 "
                              "-cipher DEFAULT@SECLEVEL=0 </dev/null")
    assert old.returncode != 0 and "alert protocol version" in old.stderr, old.stderr[-1000:]
    current = on_outside(outside, f"openssl s_client -connect {env.address}:{port} {starttls} -tls1_2 </dev/null")
    assert "Protocol: TLSv1.2" in current.stdout.replace("Protocol  :", "Protocol:"), current.stdout[-2000:]


GUESS = """
import imaplib
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
class Client(imaplib.IMAP4_SSL):
    source = None
    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=self.source)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
def guess(addresses, attempts, source=None):
    Client.source = (source, 0) if source else None
    tried = 0
    for n in range(attempts):
        try:
            conn = Client(HOST, 993, ssl_context=context, timeout=5)   # a banned address is refused at once
        except OSError:
            break
        conn.sock.settimeout(120)       # Dovecot makes each failure wait longer: that is the slowing down
        try:
            conn.login(addresses[n % len(addresses)], "Sai-mat-khau-%d" % n)
        except imaplib.IMAP4.error:
            pass
        except OSError:
            break
        tried += 1
    out(tried=tried)
"""


def failure_locked(env, dn) -> bool:
    env.admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["pwdAccountLockedTime"])
    return bool(env.admin.entries[0].entry_attributes_as_dict.get("pwdAccountLockedTime"))


@pytest.fixture
def drill_once(once):
    """The ban drills take a minute each and their outcome depends on neither province nor engine (the
    files are the same bytes; tests/infra/test_firewall.py checks the jails on every host)."""


def test_a_password_sprayer_is_banned_and_no_mailbox_locks(outside, env, host, drill_once):
    """30 wrong passwords across 10 mailboxes from one address: the address is banned at the firewall, no
    mailbox is locked, and every owner logs in at once from another address."""
    from mailflow import imap_login, new_mailbox
    boxes = [new_mailbox(env) for _ in range(10)]
    addresses = [address for _, address, _ in boxes]
    try:
        found = probe(outside, env, GUESS + f"guess({addresses!r}, 30)", timeout=600)
        banned = host.run("fail2ban-client get dovecot banip").stdout
        # Banned at the latest after `ban.after` failures (sooner if this address failed earlier in the window).
        assert found["tried"] <= env.s.defences.ban.after and outside.address in banned, (found, banned)
    finally:
        host.run("fail2ban-client unban %s", outside.address)
    for dn, address, password in boxes:
        assert not failure_locked(env, dn), address
        imap_login(env, address, password).logout()


def guessed_but_not_locked(outside, env, host, jail: str, script) -> None:
    """One mailbox guessed from a fresh address on `outside` until that address is banned: the ban comes
    before the mailbox would lock, so its owner keeps working."""
    from mailflow import imap_login, new_mailbox
    dn, address, password = new_mailbox(env)
    with fresh_address(outside, host) as guesser:
        found = probe(outside, env, script(address, guesser), timeout=600)
        banned = host.run("fail2ban-client get %s banip", jail).stdout
        assert found["tried"] < env.s.policies["users"].max_failures and guesser in banned, (found, banned)
    assert not failure_locked(env, dn)
    imap_login(env, address, password).logout()


def test_a_guesser_is_banned_before_the_mailbox_locks(outside, env, host, drill_once):
    guessed_but_not_locked(outside, env, host, "dovecot",
                           lambda address, guesser: GUESS + f"guess([{address!r}], 12, {guesser!r})")


def test_the_sieve_forward_listener_takes_only_dovecots_deliveries(host, once):
    connect = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', %d), timeout=5).recv(64)\""
    port = PORTS["sieve_forward"]
    assert host.run("runuser -u www-data -- " + connect % port).rc != 0, "the web server's user is refused"
    assert host.run("runuser -u vmail -- " + connect % port).rc == 0


def test_abuse_and_postmaster_reach_the_operators_mailbox(outside, env):
    """RFC 2142 and RFC 5321: the world can report abuse; both land in the one operators' mailbox."""
    from mailflow import delivered_count, wait_delivered
    postmaster = f"postmaster@{env.s.domain}"
    before = delivered_count(env, postmaster)
    for role in ("abuse", "postmaster"):
        found = probe(outside, env, SEND + f"send('someone@ngoai.test', 'Nguoi ngoai <someone@ngoai.test>', "
                                           f"'{role}@{env.s.domain}')")
        assert found["stage"] == "DATA" and found["code"] == 250, (role, found)
    assert wait_delivered(env, postmaster, before + 2) == before + 2


def test_a_trusted_client_may_send_as_the_province_on_port_25(env):
    """The host itself, as a relay listed in the inventory would: the header rule is for outsiders only."""
    from mailflow import new_mailbox, wait_delivered
    _, official, _ = new_mailbox(env)
    script = (f"import smtplib; s = smtplib.SMTP('127.0.0.1', 25); s.ehlo('mail.lab'); "
              f"s.sendmail('canhbao@{env.s.domain}', ['{official}'], "
              f"b'From: Canh bao <canhbao@{env.s.domain}>\\r\\nSubject: Thong bao\\r\\n\\r\\nNoi dung.\\r\\n'); s.quit()")
    lab.ssh(env.host, ["python3", "-c", shlex.quote(script)])
    assert wait_delivered(env, official, 1) == 1


WEBMAIL_GUESS = """
import http.client, re
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
def webmail_guess(address, attempts, source, host_name):
    tried = 0
    for n in range(attempts):
        try:
            conn = http.client.HTTPSConnection(HOST, 443, timeout=10, context=context, source_address=(source, 0))
            conn.request("GET", "/", headers={"Host": host_name})
            page = conn.getresponse()
            cookie = page.getheader("Set-Cookie").split(";")[0]
            token = re.search(r'name="_token" value="([^"]+)"', page.read().decode()).group(1)
            body = f"_token={token}&_task=login&_action=login&_timezone=UTC&_user={address}&_pass=Sai-mat-khau-{n}"
            conn.request("POST", "/?_task=login", body=body, headers={
                "Host": host_name, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            conn.getresponse().read()
        except OSError:
            break
        tried += 1
    out(tried=tried)
"""


def test_a_webmail_guesser_is_banned_too(outside, env, host, drill_once):
    guessed_but_not_locked(outside, env, host, "roundcube-auth", lambda address, guesser: WEBMAIL_GUESS + (
        f"webmail_guess({address!r}, 12, {guesser!r}, {env.s.mail_host!r})"))
