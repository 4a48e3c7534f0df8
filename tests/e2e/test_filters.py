"""ClamAV and SpamAssassin in front of Postfix, checked with the standard harmless test strings (GTUBE,
EICAR) over real SMTP: refused during the session, never bounced later; a filter that is down makes the
sender wait (4xx)."""

import contextlib
import smtplib
from pathlib import Path

import pytest
from mailflow import delivered_count, imap_login, message, new_mailbox, smtp, submit, wait_delivered

from govmail import lab
from govmail.build.layout import PORTS
from govmail.build.render import EICAR

pytestmark = pytest.mark.e2e
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
OUTSIDE = "cong.dan@ngoai.test"
SPAMD_PORT = 783


def send_from_outside(env, msg) -> None:
    """Port 25, no login: how mail from another organisation arrives."""
    with smtp(env, 25) as conn:
        conn.send_message(msg, from_addr=OUTSIDE)


def refusal(send) -> smtplib.SMTPResponseException:
    with pytest.raises(smtplib.SMTPResponseException) as err:
        send()
    return err.value


def headers_of_last(env, address, password) -> str:
    conn = imap_login(env, address, password)
    conn.select("INBOX", readonly=True)
    _, data = conn.search(None, "ALL")
    _, parts = conn.fetch(data[0].split()[-1], "(BODY.PEEK[HEADER])")
    conn.logout()
    return parts[0][1].decode()


@contextlib.contextmanager
def stopped(env, *units):
    """Stop services on the host for the duration; they are started again whatever happens."""
    lab.ssh(env.host, ["systemctl", "stop", *units])
    try:
        yield
    finally:
        lab.ssh(env.host, ["systemctl", "start", *units])
        listening = " && ".join(f"until (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.2; done"
                                for port in (SPAMD_PORT, PORTS["clamav_milter"], PORTS["spamass_milter"]))
        lab.ssh(env.host, [f"timeout 60 bash -c 'clamdscan --ping 30:1 >/dev/null && {listening}'"])


def test_clean_mail_from_outside_is_scanned_by_both_filters(env):
    _, bob, bob_pw = new_mailbox(env)
    send_from_outside(env, message(OUTSIDE, bob, subject="Công văn từ bên ngoài"))
    assert wait_delivered(env, bob, 1) == 1
    headers = headers_of_last(env, bob, bob_pw)
    assert "X-Virus-Scanned: clamav-milter" in headers
    assert "X-Spam-Status: No" in headers


def test_gtube_from_outside_is_refused_in_the_session(env):
    _, bob, _ = new_mailbox(env)
    err = refusal(lambda: send_from_outside(env, message(OUTSIDE, bob, body=GTUBE)))
    assert err.smtp_code == 550 and b"thu rac" in err.smtp_error
    assert delivered_count(env, bob) == 0


def test_authenticated_mail_is_not_spam_scored(env):
    """Logged-in government senders skip SpamAssassin (documented choice: only virus scanning)."""
    _, alice, alice_pw = new_mailbox(env)
    _, bob, bob_pw = new_mailbox(env)
    submit(env, alice, alice_pw, message(alice, bob, body=GTUBE))
    assert wait_delivered(env, bob, 1) == 1
    headers = headers_of_last(env, bob, bob_pw)
    assert "X-Virus-Scanned: clamav-milter" in headers and "X-Spam-Status" not in headers


@pytest.mark.parametrize("route", ["outside", "submission"])
def test_eicar_is_refused_in_the_session(env, route):
    _, alice, alice_pw = new_mailbox(env)
    _, bob, _ = new_mailbox(env)
    # From outside, the sender is outside too: a province sender on port 25 is refused before any filter.
    msg = message(OUTSIDE if route == "outside" else alice, bob, subject="Báo cáo")
    msg.add_attachment(EICAR.encode(), maintype="application", subtype="octet-stream", filename="baocao.com.txt")
    send = (lambda: send_from_outside(env, msg)) if route == "outside" else \
        (lambda: submit(env, alice, alice_pw, msg))
    err = refusal(send)
    assert err.smtp_code == 550 and b"Govmail.Test.EICAR" in err.smtp_error
    assert delivered_count(env, bob) == 0


def test_a_signature_only_the_lab_mirror_holds_is_refused(env):
    """clamd knows this signature only because freshclam fetched it from the lab's mirror (govmail's own
    signature file does not hold it)."""
    _, bob, _ = new_mailbox(env)
    msg = message(OUTSIDE, bob, subject="Tài liệu")
    msg.add_attachment(lab.LAB_SIGNATURE_TEXT.encode(), maintype="application", subtype="octet-stream",
                       filename="tailieu.dat")
    err = refusal(lambda: send_from_outside(env, msg))
    assert err.smtp_code == 550 and lab.LAB_SIGNATURE.encode() in err.smtp_error
    assert delivered_count(env, bob) == 0
    own = lab.ssh(env.host, ["cat", "/var/lib/clamav/govmail.ndb"]).stdout
    assert lab.LAB_SIGNATURE not in own and lab.LAB_SIGNATURE_TEXT.encode().hex() not in own


# A real password-protected ZIP (made with `zip -P`): an archive merely flagged as encrypted is not enough
# for ClamAV, which checks the encryption header.
ENCRYPTED_ZIP = Path(__file__).parent / "data" / "encrypted.zip"


def encrypted_zip_message(sender, to):
    msg = message(sender, to, subject="Tệp nén có mật khẩu")
    msg.add_attachment(ENCRYPTED_ZIP.read_bytes(), maintype="application", subtype="zip", filename="bangluong.zip")
    return msg


def test_password_protected_archives_are_refused_where_restricted(env):
    if not env.s.encrypted_archives_restricted:
        pytest.skip(f"{env.s.province} does not restrict encrypted archives (see the next test)")
    _, alice, alice_pw = new_mailbox(env)
    _, bob, _ = new_mailbox(env)
    err = refusal(lambda: submit(env, alice, alice_pw, encrypted_zip_message(alice, bob)))
    assert err.smtp_code == 550 and b"Heuristics.Encrypted.Zip" in err.smtp_error
    assert delivered_count(env, bob) == 0


def test_password_protected_archives_pass_elsewhere(env):
    if env.s.encrypted_archives_restricted:
        pytest.skip(f"{env.s.province} restricts encrypted archives (see the previous test)")
    _, alice, alice_pw = new_mailbox(env)
    _, bob, _ = new_mailbox(env)
    submit(env, alice, alice_pw, encrypted_zip_message(alice, bob))
    assert wait_delivered(env, bob, 1) == 1


@pytest.mark.parametrize("units", [["spamd"], ["spamass-milter"], ["clamav-daemon.socket", "clamav-daemon"],
                                   ["clamav-milter"]])
def test_a_filter_that_is_down_makes_mail_wait(env, units, once):
    _, bob, bob_pw = new_mailbox(env)
    msg = message(OUTSIDE, bob, subject="Thư chờ bộ lọc")
    with stopped(env, *units):
        err = refusal(lambda: send_from_outside(env, msg))
        assert 400 <= err.smtp_code < 500, err
        assert delivered_count(env, bob) == 0
    send_from_outside(env, msg)        # the sender's retry, once the filter is back
    assert wait_delivered(env, bob, 1) == 1
