"""Benchmark behind a design choice: milters (what govmail deploys) against amavis as a before-queue
content filter (Postfix smtpd_proxy_filter), the other way to refuse bad mail during the SMTP session.

On the deployed lab host mail1 it installs amavisd-new (with clamd and SpamAssassin's library), opens a
second Postfix listener on 2525 that hands every message to amavis before answering, and sends the same
~10 KB Vietnamese message from outside through port 25 (the milters) and through 2525 (amavis). It prints
both rates and the memory each chain adds. Port 25 is untouched; master.cf is restored and amavis stopped
at the end (the package stays: use a throwaway lab host).

    .venv/bin/python bench/filter_choice.py [--messages 200] [--clients 4]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mailflow  # noqa: E402

AMAVIS_CONFIG = r"""use strict;
# govmail bench: amavis as a before-queue filter with clamd and SpamAssassin, refusing in the session.
@bypass_virus_checks_maps = (\%bypass_virus_checks, \@bypass_virus_checks_acl, \$bypass_virus_checks_re);
@bypass_spam_checks_maps = (\%bypass_spam_checks, \@bypass_spam_checks_acl, \$bypass_spam_checks_re);
$myhostname = 'MAIL_HOST';
$inet_socket_port = [10024];
$forward_method = 'smtp:[127.0.0.1]:10025';
$notify_method = $forward_method;
$final_virus_destiny = D_REJECT;
$final_spam_destiny = D_REJECT;
$sa_tag_level_deflt = -999;
$sa_kill_level_deflt = 10;
$sa_local_tests_only = 1;      # as spamd --local: no network tests
$max_servers = 4;
@av_scanners = (['ClamAV-clamd', \&ask_daemon, ["CONTSCAN {}\n", "/run/clamav/clamd.ctl"],
                 qr/\bOK$/m, qr/\bFOUND$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND$/m]);
1;
"""
PROXY_LISTENERS = """# govmail bench only: amavis before the queue on 2525, its mail re-enters on 10025.
2525      inet  n       -       n       -       -       smtpd
  -o smtpd_proxy_filter=127.0.0.1:10024
  -o smtpd_milters=
127.0.0.1:10025 inet n  -       n       -       -       smtpd
  -o smtpd_milters=
  -o smtpd_proxy_filter=
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o receive_override_options=no_header_body_checks,no_unknown_recipient_checks
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
"""


def install_amavis(host, mail_host: str) -> None:
    mailflow.host_shell(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                              "amavisd-new spamassassin >/dev/null"
                              " && usermod -a -G amavis clamav && usermod -a -G clamav amavis")
    config = AMAVIS_CONFIG.replace("MAIL_HOST", mail_host)
    mailflow.host_shell(host, f"cat > /etc/amavis/conf.d/99-govmail-bench <<'EOF'\n{config}EOF\n"
                              "systemctl restart clamav-daemon amavis && sleep 5 && systemctl is-active amavis")


def main() -> None:
    args, host, s, secrets, to, admin = mailflow.prepare(__doc__.splitlines()[0])
    body = mailflow.vietnamese_body()

    def batch(label):
        return [mailflow.compose(mailflow.OUTSIDER, to[i % len(to)], f"Công văn {label} số {i}", body)
                for i in range(args.messages)]

    install_amavis(host, s.mail_host)
    try:
        with mailflow.extra_listener(host, PROXY_LISTENERS):
            milters = mailflow.rate_into_inbox(
                host, to, lambda: mailflow.send_all(host.address, 25, batch("milter"), args.clients), args.messages)
            amavis = mailflow.rate_into_inbox(
                host, to, lambda: mailflow.send_all(host.address, 2525, batch("amavis"), args.clients),
                args.messages)
            usage = mailflow.memory(host, ["clamav-milter", "spamass-milter", "spamd", "amavis"])
    finally:
        mailflow.host_shell(host, "systemctl stop amavis")
    print(f"milters (clamav-milter + spamass-milter -> spamd):  {milters:6.1f} msg/s, "
          f"{(usage['clamav-milter'] + usage['spamass-milter'] + usage['spamd']) / 1024:6.1f} MiB PSS")
    print(f"amavis before the queue (clamd + SpamAssassin lib): {amavis:6.1f} msg/s, "
          f"{usage['amavis'] / 1024:6.1f} MiB PSS")
    mailflow.remove_mailboxes(host, admin, s.base_dn, to)


if __name__ == "__main__":
    main()
