"""Mail programs set themselves up from the address alone: Thunderbird's autoconfig file, Outlook's
autodiscover answer and the RFC 6186 SRV records lead a client on `outside` to servers that answer with TLS
and take the user's password."""

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
    s = env.s
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
    run = subprocess.run(lab.ssh_command(outside_trusts_the_ca, ["python3", "-", env.s.autoconfig_host]),
                         input=textwrap.dedent(NOTHING_ELSE), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["/", "404", "/index.php", "404", "/.well-known/mta-sts.txt", "404"]


OUTLOOK = """
import sys, urllib.request, xml.etree.ElementTree as ET
host, address = sys.argv[1:3]
question = (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
            f'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>{address}</EMailAddress>'
            f'<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
            f'</AcceptableResponseSchema></Request></Autodiscover>')
request = urllib.request.Request(f"https://{host}/Autodiscover/Autodiscover.xml", data=question.encode(),
                                 headers={"Content-Type": "text/xml"})
answer = ET.fromstring(urllib.request.urlopen(request).read())
ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
for protocol in answer.iterfind(".//r:Protocol", ns):
    print(*(protocol.findtext(f"r:{name}", namespaces=ns) for name in ("Type", "Server", "Port", "SSL", "LoginName")))
for error in answer.iterfind(".//r:Error", ns):
    print("error", error.findtext("r:ErrorCode", namespaces=ns))
"""


def outlook_asks(env, outside, address: str) -> set[tuple[str, ...]]:
    run = subprocess.run(lab.ssh_command(outside, ["python3", "-", env.s.autoconfig_host, address]),
                         input=textwrap.dedent(OUTLOOK), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return {tuple(line.split()) for line in run.stdout.splitlines()}


def test_outlook_autodiscover_names_the_profiles_protocols_over_tls(env, outside_trusts_the_ca):
    s = env.s
    address = f"nguoidung@{s.domain}"
    expected = set()
    if "imap" in s.protocols:
        expected.add(("IMAP", s.mail_host, "993", "on", address))
    if "pop3" in s.protocols:
        expected.add(("POP3", s.mail_host, "995", "on", address))
    if "submission" in s.protocols:
        expected.add(("SMTP", s.mail_host, "465", "on", address))
    assert outlook_asks(env, outside_trusts_the_ca, address.upper()) == expected and expected
    # Another domain's address, or something that is not an address, gets an error, not settings.
    assert outlook_asks(env, outside_trusts_the_ca, "someone@ngoai.test") == {("error", "600")}
    assert outlook_asks(env, outside_trusts_the_ca, "not-an-address") == {("error", "600")}
