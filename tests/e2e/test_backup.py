"""Backups proven by restoring (marker `drill`: run once, in their own phase of scripts/test). A filled host is
backed up into its restic repository at the `backup` host's REST server, which only lets it add; runs are
incremental, loud when they fail and lose no arriving mail; the backup host applies the retention; a
message, a mailbox and a directory entry come back from a snapshot; then the host is destroyed, a fresh one
deployed and restored, and everything is checked against what it held."""

import dataclasses
import hashlib
import imaplib
import json
import os
import re
import shlex
import subprocess
import threading
import time
import uuid
from email.utils import make_msgid

import pytest
from mailflow import delivered_count, govmail, imap_login, message, messages, new_mailbox, submit, wait_delivered
from test_outsider import connect_outcomes

from govmail import lab
from govmail.accounts import directory
from govmail.build import components
from govmail.build import layout

pytestmark = [pytest.mark.e2e, pytest.mark.drill]
BACKUP_HOST = "backup"      # the inventory's backup_target, started with the mail host (tests/conftest.py)

MESSAGES = 300
FOLDER = "LuuTru"
SIEVE = 'require "fileinto";\nif header :contains "subject" "[luu]" { fileinto "LuuTru"; }\n'
CONTACT = ("Trần Văn Liên Lạc", "lienlac@ngoai.test")
ENTRY_STATE = ["cn", "mail", "govmailQuotaBytes", "govmailLoginEnabled", "pwdChangedTime", "userPassword",
               "pwdReset", "govmailRevokedAt", "govmailLockedAt"]


def on_host(env, command: str, stdin: str | None = None) -> str:
    done = subprocess.run(lab.ssh_command(env.host, [command]), input=stdin, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


def backup(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return govmail("backup", *args, check=check)


def mailbox_state(env, address: str) -> dict:
    """Each folder's UIDVALIDITY, and each message's folder, UID and flags (doveadm: no password needed)."""
    folders = on_host(env, f"doveadm -f tab mailbox status -u {address} uidvalidity '*'").splitlines()[1:]
    fetched = on_host(env, f"doveadm -f tab fetch -u {address} 'mailbox uid flags' all").splitlines()[1:]
    # \\Recent belongs to a session (the first to see a message), not to the message
    messages = [" ".join(word for word in row.split() if word != "\\Recent") for row in fetched]
    assert len(messages) >= 3, f"{address} holds messages to compare"
    return {"folders": sorted(folders), "messages": sorted(messages)}


def entry(env, address: str) -> dict:
    admin = env.admin
    assert admin.search(env.s.base_dn, f"(mail={address})", attributes=ENTRY_STATE + ["uid"]), address
    found = admin.entries[0].entry_attributes_as_dict
    return {name: sorted(str(v) for v in found.get(name, [])) for name in ENTRY_STATE}


def contacts(env) -> list[str]:
    query = "import sqlite3; print([r for r in sqlite3.connect('%s').execute('select name, email from contacts')])"
    return on_host(env, f"python3 -c \"{query % layout.ROUNDCUBE_DB}\"").strip()


@pytest.fixture(scope="module")
def filled(env, deployment):
    """Accounts in each state, a few hundred messages with flags and folders, a Sieve script, a webmail
    contact; the repository empty (a drill starts from nothing)."""
    if BACKUP_HOST not in lab.load_hosts():
        pytest.fail(f"the drill needs the lab host {BACKUP_HOST} (scripts/test starts it)")
    lab.ssh(lab.load_hosts()[BACKUP_HOST], ["find", f"{layout.BACKUP_ROOT}/{env.s.mail_host}", "-mindepth", "1",
                                            "-delete"])
    tag = uuid.uuid4().hex[:6]
    _, active, password = new_mailbox(env)
    _, must_change, issued = new_mailbox(env, change_password=False)
    _, locked, locked_password = new_mailbox(env)
    _, revoked, _ = new_mailbox(env)
    govmail("account", "lock", locked, "--reason", "drill", "--request", f"BK-{tag}-1")
    govmail("account", "revoke", revoked, "--reason", "drill", "--request", f"BK-{tag}-2")
    imap = imap_login(env, active, password)
    imap.create(FOLDER)
    for n in range(MESSAGES):
        flags = " ".join(f for f, every in (("\\Seen", 2), ("\\Flagged", 5), ("\\Answered", 7)) if n % every == 0)
        body = message(active, active, f"Thư lưu số {n}", f"Nội dung {n} " * 40)
        assert imap.append(FOLDER if n % 3 == 0 else "INBOX", f"({flags})" if flags else None, None,
                           body.as_bytes())[0] == "OK"
    imap.logout()
    for n in range(3):
        submit(env, active, password, message(active, locked, f"Cho hộp bị khóa {n}"))
    assert wait_delivered(env, locked, 3) == 3
    on_host(env, f"doveadm sieve put -u {active} -a drill", SIEVE)
    on_host(env, "python3 -", f"""
import sqlite3
db = sqlite3.connect({str(layout.ROUNDCUBE_DB)!r})
user = db.execute("insert into users (username, mail_host, created, language) values (?, 'localhost', "
                  "datetime('now'), 'vi_VN')", ({active!r},)).lastrowid
db.execute("insert into contacts (user_id, changed, name, email, vcard, words) values (?, datetime('now'), ?, ?, '', '')",
           (user, {CONTACT[0]!r}, {CONTACT[1]!r}))
db.commit()
""")
    return {"active": (active, password), "must_change": (must_change, issued), "locked": locked,
            "locked_password": locked_password,
            "revoked": revoked, "s": env.s}


def snapshots(env) -> list[dict]:
    return json.loads(backup("snapshots", "--json").stdout)


def test_the_backup_host_holds_the_models_files(deployment):
    """Both engines, one result, on the backup host too: bytes, owner, group and mode of govmail's model."""
    s = deployment.settings
    content = components.host_files(s)
    backup_host = lab.load_hosts()[BACKUP_HOST]
    for f in components.components(s)["backup_server"].files:
        shown = lab.ssh(backup_host, [f"stat -c '%U:%G %a' {f.path} && sha256sum {f.path}"]).stdout.split()
        assert shown[:2] == [f"root:{f.group}", f.mode.lstrip("0")], f.path
        assert shown[2] == hashlib.sha256(content[f.path].encode()).hexdigest(), f.path


def test_a_run_makes_a_snapshot_and_leaves_its_outcome(env, filled):
    run = backup("run")
    assert '"result": "ok"' in run.stdout
    found = snapshots(env)
    assert len(found) == 1
    assert sorted(found[0]["paths"]) == sorted(layout.BACKUP_PATHS)
    assert '"result": "ok"' in backup("status").stdout
    metrics = on_host(env, f"cat {layout.METRICS_DIR}/govmail-backup.prom")
    assert "govmail_backup_last_run_success 1" in metrics
    assert re.search(r"^govmail_backup_last_success_timestamp_seconds [1-9]\d{9}$", metrics, re.M)


REST_PROBE = """
import json, ssl, sys, urllib.request, base64
method, url, user, password = sys.argv[1:5]
request = urllib.request.Request(url, method=method)
if user:
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE      # an attacker checks nothing
try:
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        print(answer.status)
except urllib.error.HTTPError as error:
    print(error.code)
except urllib.error.URLError as error:
    print(type(error.reason).__name__)
"""


def rest(host, method: str, path: str, user: str = "", password: str = "", scheme: str = "https") -> str:
    """What the backup host's REST server answers a lab host: an HTTP status, or the error met."""
    url = f"{scheme}://{BACKUP_HOST}:{layout.BACKUP_REST_PORT}{path}"
    done = subprocess.run(lab.ssh_command(host, ["python3 - " + shlex.join([method, url, user, password])]),
                          input=REST_PROBE, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_backup_host_answers_the_mail_host_alone(outside, env):
    """From the outside host: the REST server's port is refused (its firewall admits the mail host alone),
    and govmail 2026-11's SFTP port (2222) is closed."""
    backup_host = dataclasses.replace(env, address=lab.load_hosts()[BACKUP_HOST].address)
    ports = [layout.BACKUP_REST_PORT, 2222]
    assert connect_outcomes(outside, backup_host, ports) == {str(port): "ConnectionRefusedError" for port in ports}


def test_a_stolen_mail_host_adds_to_its_backups_and_deletes_none(deployment, env, filled):
    """Root on the mail host, as whoever took it: no password, a wrong one and plain HTTP get nothing; the mail
    host's own password reads its repository but deletes nothing and reaches no other repository."""
    host, thief = env.s.mail_host, env.host
    assert rest(thief, "GET", f"/{host}/config") == "401"
    assert rest(thief, "GET", f"/{host}/config", host, "not-the-password") == "401"
    assert rest(thief, "GET", f"/{host}/config", scheme="http") == "400"     # TLS only
    stolen = (deployment.secrets.directory / "backup-rest.password").read_text().strip()
    found = snapshots(env)
    assert found, "a snapshot to try to delete"
    assert rest(thief, "GET", f"/{host}/snapshots/", host, stolen) == "200"
    assert rest(thief, "DELETE", f"/{host}/snapshots/{found[0]['id']}", host, stolen) == "403"
    assert rest(thief, "DELETE", f"/{host}/keys/", host, stolen) in ("403", "405")
    assert rest(thief, "GET", "/another-mail-host/config", host, stolen) in ("401", "403")
    assert [snap["id"] for snap in snapshots(env)] == [snap["id"] for snap in found]


def test_an_incremental_run_stores_about_the_change(env, filled):
    first = snapshots(env)[0]["summary"]["data_added"]
    active, password = filled["active"]
    change = os.urandom(200_000).hex()[:200_000]          # 200 kB that no compression shrinks much
    imap = imap_login(env, active, password)
    changed = message(active, active, "Thay doi nho", change)
    changed["Message-ID"] = filled["changed_id"] = make_msgid(domain=filled["s"].domain)
    assert imap.append("INBOX", None, None, changed.as_bytes())[0] == "OK"
    imap.logout()
    backup("run")
    added = snapshots(env)[-1]["summary"]["data_added"]
    print(f"full run added {first} bytes; the run after a 200 kB message added {added} bytes")
    assert 100_000 < added < first / 5


def test_mail_arriving_during_a_run_is_all_kept(env, filled):
    active, password = filled["active"]
    before = delivered_count(env, active)
    run = {}
    worker = threading.Thread(target=lambda: run.update(done=backup("run", check=False)))
    worker.start()
    for n in range(20):
        submit(env, active, password, message(active, active, f"Đến trong khi sao lưu {n}"))
    worker.join(timeout=600)
    assert run["done"].returncode == 0, run["done"].stderr
    assert wait_delivered(env, active, before + 20, wait=60) == before + 20


def test_a_wrong_passphrase_is_refused_and_changes_nothing(env, filled, tmp_path):
    wrong = tmp_path / "passphrase"
    wrong.write_text("not-the-passphrase\n")
    count = len(snapshots(env))
    dumps_before = on_host(env, f"stat -c '%n %Y' {layout.BACKUP_DUMPS}/*")
    refused = backup("run", "--passphrase-file", str(wrong), check=False)
    assert refused.returncode == 5
    assert "passphrase does not open the repository" in refused.stderr
    assert on_host(env, f"stat -c '%n %Y' {layout.BACKUP_DUMPS}/*") == dumps_before
    assert len(snapshots(env)) == count


def failure_mails(env) -> int:
    """The mails the backup tool sent the operators about a failed run (the monitoring's alert mails, which
    may be under way for an earlier drill, are not counted)."""
    return sum(str(m["Subject"]).startswith("[govmail] Sao lưu thất bại")
               for m in messages(env, f"postmaster@{env.s.domain}"))


def test_a_run_with_the_backup_host_down_fails_loudly(env, filled):
    told = failure_mails(env)
    lab.down([BACKUP_HOST])
    try:
        failed = backup("run", check=False)
        assert failed.returncode == 4
        assert f"the backup host {BACKUP_HOST}:{layout.BACKUP_REST_PORT} does not answer" in failed.stderr
        assert '"result": "failed"' in backup("status", check=False).stdout
        assert "govmail_backup_last_run_success 0" in on_host(env, f"cat {layout.METRICS_DIR}/govmail-backup.prom")
        deadline = time.monotonic() + 30
        while failure_mails(env) == told and time.monotonic() < deadline:
            time.sleep(1)
        assert failure_mails(env) == told + 1
    finally:
        lab.up([BACKUP_HOST])
    backup("run")


def test_the_backup_host_applies_the_retention(env, filled):
    """Every snapshot so far is of today: keep-daily (and weekly, monthly) keep the day's last one, and, while
    a policy has fewer periods than it may keep, the oldest one too (restic 0.17 on). The backup host forgets
    and prunes the others (the mail host cannot), and the repository still checks."""
    before = snapshots(env)
    assert len(before) >= 3
    lab.ssh(lab.load_hosts()[BACKUP_HOST], ["systemctl", "start", "govmail-backup-prune.service"])
    assert [snap["id"] for snap in snapshots(env)] == [before[0]["id"], before[-1]["id"]]
    assert "no errors were found" in backup("check").stdout


def test_a_deleted_message_comes_back_into_a_folder_while_mail_arrives(env, filled):
    active, password = filled["active"]
    msgid = filled["changed_id"]
    imap = imap_login(env, active, password)
    imap.select("INBOX")
    number = imap.search(None, "HEADER", "Message-ID", f'"{msgid}"')[1][0].split()
    assert len(number) == 1, f"one message {msgid} in the INBOX"
    imap.store(number[0], "+FLAGS", "\\Deleted")
    imap.expunge()
    imap.logout()
    before = delivered_count(env, active)
    sender = threading.Thread(target=lambda: [submit(env, active, password, message(active, active, f"Trong khi "
                                                                                     f"khôi phục {n}")) for n in range(10)])
    sender.start()
    backup("restore", "mailbox", active, "--into", "KhoiPhuc", "--query", f"header message-id {msgid}")
    sender.join(timeout=300)
    assert delivered_count(env, f"{active}", "KhoiPhuc.INBOX") == 1      # Maildir++: folders below another are named with a dot
    assert wait_delivered(env, active, before + 10, wait=60) == before + 10


def test_a_deleted_mailbox_comes_back_whole(env, filled):
    locked = filled["locked"]
    kept = mailbox_state(env, locked)
    user, domain = locked.split("@")
    on_host(env, f"doveadm kick {locked} >/dev/null; rm -rf {layout.VMAIL}/{domain}/{user}")
    backup("restore", "mailbox", locked)
    assert mailbox_state(env, locked) == kept


def test_a_deleted_directory_entry_comes_back_with_its_state(env, filled):
    revoked = filled["revoked"]
    kept = entry(env, revoked)
    uid = revoked.split("@")[0]
    assert env.admin.search(filled["s"].base_dn, f"(mail={revoked})")
    assert env.admin.delete(env.admin.entries[0].entry_dn), env.admin.result
    backup("restore", "entry", uid)
    assert entry(env, revoked) == kept
    again = backup("restore", "entry", uid, check=False)
    assert again.returncode == 2 and "only a deleted entry is restored" in again.stderr


def test_a_destroyed_host_comes_back_on_a_fresh_one(env, filled, redeploy):
    """The disaster: the last snapshot, the host destroyed, a fresh host deployed and restored from it."""
    active, password = filled["active"]
    must_change, issued = filled["must_change"]
    backup("run")
    accounts = [active, must_change, filled["locked"], filled["revoked"]]
    before = {"mail": mailbox_state(env, active), "entries": {a: entry(env, a) for a in accounts},
              "sieve": on_host(env, f"doveadm sieve get -u {active} drill"), "contacts": contacts(env)}
    name = env.host.name
    lab.remove([name])
    lab.up([name])
    assert on_host(env, f"test -d {layout.VMAIL}/{filled['s'].domain} && echo kept || echo gone").strip() == "gone"
    redeploy()
    restored = backup("restore", "host")
    assert "moved_aside" in restored.stdout
    env.admin = directory.connect(filled["s"])          # the old connection went with the old host
    assert mailbox_state(env, active) == before["mail"]
    assert {a: entry(env, a) for a in accounts} == before["entries"]
    assert on_host(env, f"doveadm sieve get -u {active} drill") == before["sieve"]
    assert contacts(env) == before["contacts"]
    imap_login(env, active, password).logout()                     # the old password opens it
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, must_change, issued)        # an issued password is still to be changed (pwdReset kept)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(env, filled["locked"], filled["locked_password"])      # a locked mailbox stays locked ...
    for to in (must_change, filled["locked"]):                             # ... and, as the others, receives
        count = delivered_count(env, to)
        submit(env, active, password, message(active, to, "Sau khi khôi phục"))
        assert wait_delivered(env, to, count + 1, wait=60) == count + 1, to
