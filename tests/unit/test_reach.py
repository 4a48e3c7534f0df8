"""govmail.reach: the SSH target read from an inventory, and a clear error when SSH cannot get there."""

import shlex
import time

import pytest

from govmail import reach


def test_the_first_mail_host_with_the_inventorys_ssh_settings(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars: {ansible_user: root, ansible_ssh_private_key_file: /keys/lab,\n"
        "         ansible_ssh_common_args: '-o StrictHostKeyChecking=no -p 2222'}\n"
        "  children:\n    mail:\n      hosts:\n        mail1: {ansible_host: 192.0.2.10}\n"
        "        mail2: {ansible_host: 192.0.2.11}\n    outside:\n      hosts: {}\n")
    target = reach.mail_host(tmp_path)
    assert target == reach.SshTarget("192.0.2.10", "root", "/keys/lab", ("-o", "StrictHostKeyChecking=no", "-p", "2222"))
    command = target.command("-N")
    assert command[0] == "ssh" and command[-1] == "root@192.0.2.10" and command[-2] == "-N"
    assert command[command.index("-i") + 1] == "/keys/lab"


def test_an_inventory_without_hosts_names_none(tmp_path):
    assert reach.mail_host(tmp_path) is None


def test_a_host_ssh_cannot_reach_is_a_clear_error_at_once():
    """Nothing listens on loopback port 1: ssh gives up, and the error names the host and what to check."""
    started = time.monotonic()
    with pytest.raises(reach.Unreachable, match=r"ssh to 127\.0\.0\.1 failed .*reachable over SSH"):
        reach.Tunnel(reach.SshTarget("127.0.0.1", options=("-p", "1")), 636)
    assert time.monotonic() - started < reach.CONNECT_TIMEOUT + 5


def test_a_notice_address_reaches_the_mail_hosts_shell_as_one_word():
    from govmail.accounts.notify import Notifier
    hostile = "stc@hanam.gov.vn; rm -rf /"
    command = Notifier("hanam.gov.vn", ssh=reach.SshTarget("192.0.2.10", "root")).sendmail_command(hostile)
    assert command[-2] == "root@192.0.2.10"
    assert shlex.split(command[-1]) == ["/usr/sbin/sendmail", "-oi", "-f", "postmaster@hanam.gov.vn", "--", hostile]
