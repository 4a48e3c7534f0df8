"""Mail programs set themselves up from the address alone: Thunderbird's autoconfig file and the RFC 6186 SRV
records lead a client on `outside` to servers that answer with TLS and take the user's password."""

import subprocess
import textwrap

import pytest
from mailflow import new_mailbox

from govmail import lab

pytestmark = pytest.mark.e2e

CLIENT = """
import imaplib, poplib, smtplib, ssl, sys, urllib.request, xml.etree.ElementTree as ET
address, password, domain = sys.argv[1:4]
# Thunderbird asks http:// first; the redirect must land on https:// with a certificate it trusts.
answer = urllib.request.urlopen(f"http://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={address}")
assert answer.url.startswith("https://"), answer.url
provider = ET.fromstring(answer.read()).find("emailProvider")
tls = ssl.create_default_context()
for server in provider.findall("incomingServer") + provider.findall("outgoingServer"):
    kind, host, port, socket_type = (server.get("type"), server.findtext("hostname"), int(server.findtext("port")),
                                     server.findtext("socketType"))
    user = server.findtext("username").replace("%EMAILADDRESS%", address)
    if kind == "imap":
        conn = imaplib.IMAP4_SSL(host, port, ssl_context=tls); conn.login(user, password); conn.logout()
    elif kind == "pop3":
        conn = poplib.POP3_SSL(host, port, context=tls); conn.user(user); conn.pass_(password); conn.quit()
    elif socket_type == "SSL":
        with smtplib.SMTP_SSL(host, port, context=tls) as conn: conn.login(user, password)
    else:
        with smtplib.SMTP(host, port) as conn: conn.starttls(context=tls); conn.login(user, password)
    print(kind, port, socket_type, "logged in")
"""


def test_a_mail_program_configures_itself_from_the_address(env, outside_trusts_the_ca):
    s = env["s"]
    _, address, password = new_mailbox(env)
    run = subprocess.run(lab.ssh_command(outside_trusts_the_ca, ["python3", "-", address, password, s.domain]),
                         input=textwrap.dedent(CLIENT), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    logged_in = {tuple(line.split()[:3]) for line in run.stdout.splitlines()}
    expected = set()
    if "imap" in s.protocols:
        expected.add(("imap", "993", "SSL"))
    if "pop3" in s.protocols:
        expected.add(("pop3", "995", "SSL"))
    if "submission" in s.protocols:
        expected |= {("smtp", "465", "SSL"), ("smtp", "587", "STARTTLS")}
    assert logged_in == expected and expected


NOTHING_ELSE = """
import sys, urllib.error, urllib.request
for path in ("/", "/index.php", "/.well-known/mta-sts.txt"):
    try:
        print(path, urllib.request.urlopen(f"https://{sys.argv[1]}{path}").status)
    except urllib.error.HTTPError as err:
        print(path, err.code)
"""


def test_the_autoconfig_name_serves_nothing_else(env, outside_trusts_the_ca):
    """Neither webmail nor the MTA-STS policy answer on autoconfig.<domain>."""
    run = subprocess.run(lab.ssh_command(outside_trusts_the_ca, ["python3", "-", env["s"].autoconfig_host]),
                         input=textwrap.dedent(NOTHING_ELSE), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["/", "404", "/index.php", "404", "/.well-known/mta-sts.txt", "404"]
