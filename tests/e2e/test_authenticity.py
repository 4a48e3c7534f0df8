"""Mail that other servers can trust, and mail from others checked as they ask: the lab DNS publishes what
`govmail dns` prints, as the province's own DNS would, and the outside world's SPF and DMARC policies. Mail
the province sends carries a DKIM signature that verifies from `outside` (Debian's dkimpy there, resolving
through the lab DNS, as another organisation's server would); mail from `outside` is judged by its domain's
SPF and DMARC."""

import ast
import email
import email.policy
import os
import shlex
import subprocess

import dns.resolver
import pytest

from govmail import lab
from mailflow import (delivered_count, govmail, imap_login, inbox_subjects, message, new_mailbox, publish, submit,
                      wait_delivered)
from test_outsider import SEND, probe

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    bool(os.environ.get("GOVMAIL_TEST_PROVINCE")),
    reason="signing and the SPF/DMARC checks do not depend on the province's regulation: checked once, for the "
           "inventory's province (and by molecule on the Ansible-deployed host)")]


@pytest.fixture(scope="module")
def dkimverify(outside, published):
    """Run Debian's dkimverify on `outside` over a raw message; the completed process."""
    install = subprocess.run(lab.ssh_command(outside, [
        "command -v dkimverify || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dkim"]),
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr

    def verify(raw: bytes) -> subprocess.CompletedProcess:
        return subprocess.run(lab.ssh_command(outside, ["dkimverify"]), input=raw, capture_output=True, timeout=60)
    return verify


def answers(name: str, rtype: str) -> set[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [str(lab.GATEWAY)]
    found = resolver.resolve(name, rtype)
    if rtype == "TXT":
        return {b"".join(r.strings).decode() for r in found}
    return {r.to_text().rstrip(".") for r in found}


def test_the_lab_dns_answers_what_govmail_dns_prints(published):
    by_name_type = {}
    for r in published:
        by_name_type.setdefault((r.name, r.type), set()).add(r.value)
    assert {t for _, t in by_name_type} >= {"MX", "TXT", "SRV", "A"}
    for (name, rtype), values in by_name_type.items():
        assert answers(name, rtype) == values, (name, rtype)


def raw_inbox_message(env, address, password, subject) -> bytes:
    assert subject in inbox_subjects(env, address, password)
    conn = imap_login(env, address, password)
    conn.select("INBOX", readonly=True)
    for num in conn.search(None, "ALL")[1][0].split():
        raw = conn.fetch(num, "(BODY.PEEK[])")[1][0][1]
        if str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]) == subject:
            conn.logout()
            return raw
    raise AssertionError(f"{subject!r} not in {address}'s INBOX")


def signatures(raw: bytes) -> list[dict[str, str]]:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [dict(tag.strip().split("=", 1) for tag in "".join(h.split()).split(";") if "=" in tag)
            for h in msg.get_all("DKIM-Signature", [])]


def selector(published) -> str:
    return next(r.name for r in published if "._domainkey." in r.name).split(".")[0]


def test_submitted_mail_is_signed_and_verifies_from_outside(env, published, dkimverify):
    _, alice, alice_pw = new_mailbox(env)
    _, bob, bob_pw = new_mailbox(env)
    submit(env, alice, alice_pw, message(alice, bob, subject="Công văn có chữ ký số"))
    raw = raw_inbox_message(env, bob, bob_pw, "Công văn có chữ ký số")
    assert [(sig["d"], sig["s"]) for sig in signatures(raw)] == [(env.s.domain, selector(published))]
    verified = dkimverify(raw)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    tampered = raw.rstrip(b"\r\n") + b"\r\nChuyen khoan ngay.\r\n"
    assert dkimverify(tampered).returncode != 0, "a changed body must fail verification"


def test_notices_sent_on_the_host_are_signed(env, dkimverify):
    """The sweep's agency notices and quota warnings leave through the host's own sendmail."""
    _, bob, bob_pw = new_mailbox(env)
    notice = f"From: postmaster@{env.s.domain}\nTo: {bob}\nSubject: Thong bao tu he thong\n\nNoi dung.\n"
    lab.ssh(env.host, [f"printf %s {shlex.quote(notice)} | /usr/sbin/sendmail -t"])
    raw = raw_inbox_message(env, bob, bob_pw, "Thong bao tu he thong")
    assert [sig["d"] for sig in signatures(raw)] == [env.s.domain]
    assert dkimverify(raw).returncode == 0


def test_an_outsider_cannot_get_mail_signed_by_the_province(env, outside, published):
    _, official, password = new_mailbox(env)
    found = probe(outside, env, SEND + f"send('someone@{lab.OUTSIDE_DOMAIN}', 'Nguoi ngoai <someone@{lab.OUTSIDE_DOMAIN}>', "
                                       f"'{official}')")
    assert found["code"] == 250, found
    raw = raw_inbox_message(env, official, password, "Chi dao khan")
    assert signatures(raw) == []
    # what the host found, for the official's mail program and filters: SPF and DMARC passed
    results = email.message_from_bytes(raw, policy=email.policy.compat32).get_all("Authentication-Results", [])
    verdicts = " ".join(" ".join(r.split()) for r in results if r.strip().startswith(env.s.mail_host + ";"))
    assert "dmarc=pass" in verdicts and f"header.from={lab.OUTSIDE_DOMAIN}" in verdicts, results
    assert "spf=pass" in verdicts, results


def test_a_sender_domain_that_lets_nobody_send_is_refused_at_rcpt(env, outside, published):
    """SPF "-all" for gia-mao.test in the lab DNS: no address may send for it."""
    _, official, _ = new_mailbox(env)
    fake = lab.SPOOFED_DOMAIN
    found = probe(outside, env, SEND + f"send('someone@{fake}', 'someone@{fake}', '{official}')")
    assert found["stage"] == "RCPT" and found["code"] == 550 and "SPF" in found["reply"], found


def test_a_from_in_a_domain_whose_dmarc_says_reject_is_refused(env, outside, published):
    """ngoai.test publishes p=reject: its name in From: with neither its SPF nor a signature of its own."""
    _, official, _ = new_mailbox(env)
    found = probe(outside, env, SEND + f"send('bounce@khac.test', 'Giam doc <giamdoc@{lab.OUTSIDE_DOMAIN}>', "
                                       f"'{official}')")
    assert found["stage"] == "DATA" and found["code"] == 550 and "DMARC" in found["reply"].upper(), found


def test_a_from_in_a_domain_whose_dmarc_says_quarantine_goes_to_junk(env, outside, published):
    """cach-ly.test publishes p=quarantine: its name in From:, sent through ngoai.test's SPF, is delivered to
    Junk; a message that passes DMARC with the same verdict forged in its headers stays in the INBOX."""
    _, official, _ = new_mailbox(env)
    found = probe(outside, env, SEND + f"send('bounce@{lab.OUTSIDE_DOMAIN}', "
                                       f"'Ke toan <ketoan@{lab.QUARANTINE_DOMAIN}>', '{official}')")
    assert found["code"] == 250, found
    assert wait_delivered(env, official, 1, mailbox="Junk") == 1 and delivered_count(env, official) == 0
    header = lab.ssh(env.host, [f"doveadm fetch -u {official} hdr mailbox Junk"]).stdout
    assert f"{env.s.mail_host}; dmarc=fail (p=quarantine" in " ".join(header.split()), header

    _, other, _ = new_mailbox(env)
    forged = f"Authentication-Results: {env.s.mail_host}; dmarc=fail (p=quarantine dis=quarantine)\\r\\n"
    script = SEND.replace('msg = f"From:', f'msg = "{forged}" + f"From:')
    assert forged in script
    found = probe(outside, env, script + f"send('bounce@{lab.OUTSIDE_DOMAIN}', "
                                         f"'Ke toan <ketoan@{lab.OUTSIDE_DOMAIN}>', '{other}')")
    assert found["code"] == 250, found
    assert wait_delivered(env, other, 1) == 1 and delivered_count(env, other, "Junk") == 0


def test_other_servers_find_a_valid_mta_sts_policy(env, outside_trusts_the_ca, published):
    """Debian's postfix-mta-sts-resolver on `outside` (the MTA-STS client Postfix uses) reads the policy as any
    sending server would: the TXT record's id, the policy over HTTPS with the certificate verified."""
    install = subprocess.run(lab.ssh_command(outside_trusts_the_ca, [
        "command -v mta-sts-query || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix-mta-sts-resolver"]),
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    query = subprocess.run(lab.ssh_command(outside_trusts_the_ca, ["mta-sts-query", env.s.domain]),
                           capture_output=True, text=True, timeout=60)
    assert "STSFetchResult.VALID" in query.stdout, query.stdout + query.stderr
    policy_id, policy = ast.literal_eval(query.stdout.strip().split(", ", 1)[1][:-1])
    txt = next(r.value for r in published if r.name == f"_mta-sts.{env.s.domain}")
    assert txt == f"v=STSv1; id={policy_id}"
    mx = next(r.value for r in published if r.type == "MX").split()[1]
    assert policy["mx"] == [mx] == [env.s.mail_host]
    assert policy["mode"] == "testing" and policy["max_age"] >= 86400


def test_a_new_key_signs_only_once_the_dns_answers_with_it(env, published, redeploy, dkimverify):
    old = selector(published)
    made = govmail("dkim", "rotate", check=False)
    assert made.returncode == 0, made.stderr
    new = made.stdout.split("Made DKIM key ")[1].split()[0]
    assert new != old and f"{new}._domainkey.{env.s.domain}." in made.stdout
    early = govmail("dkim", "rotate", check=False)
    assert early.returncode == 1 and "answers with nothing" in early.stderr and "Nothing changed" in early.stderr
    assert selector(publish()) == old            # both keys published now; the old one still signs
    done = govmail("dkim", "rotate", check=False)
    assert done.returncode == 0 and f"{new} signs" in done.stdout, done.stderr
    assert redeploy()["changed"] > 0
    _, alice, alice_pw = new_mailbox(env)
    _, bob, bob_pw = new_mailbox(env)
    submit(env, alice, alice_pw, message(alice, bob, subject="Thư sau khi đổi khóa"))
    raw = raw_inbox_message(env, bob, bob_pw, "Thư sau khi đổi khóa")
    assert [sig["s"] for sig in signatures(raw)] == [new]
    assert dkimverify(raw).returncode == 0


def test_verdicts_brought_with_the_message_count_for_nothing(env, outside, published):
    """An attacker adds this host's own Authentication-Results (dkim and spf pass) to a DMARC-failing spoof."""
    _, official, _ = new_mailbox(env)
    host, domain = env.s.mail_host, lab.OUTSIDE_DOMAIN
    forged = (f"Authentication-Results: {host}; dkim=pass header.d={domain} header.s=x; "
              f"spf=pass smtp.mailfrom={domain}\\r\\n")
    script = SEND.replace('msg = f"From:', f'msg = "{forged}" + f"From:')
    assert forged in script
    found = probe(outside, env, script + f"send('bounce@khac.test', 'Giam doc <giamdoc@{domain}>', '{official}')")
    assert found["stage"] == "DATA" and found["code"] == 550 and "DMARC" in found["reply"].upper(), found
