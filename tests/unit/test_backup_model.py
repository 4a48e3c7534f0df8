"""The backup parts of the model: the plan from the inventory, and the keys that tie the mail host, the backup
host's SFTP server and the repository together (made once on the operator's side)."""

import configparser
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govmail.build import components
from govmail.build import layout
from govmail.errors import BadInput
from govmail.model import settings

INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def public_line(private_pem: str) -> str:
    key = serialization.load_ssh_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_no_target_no_backup_parts(inventory):
    s = settings.load(None, inventory(""))
    assert s.backup is None
    assert "backup" not in components.components(s)
    assert not any("backup" in path for path in components.host_files(s))


def test_retention_and_schedule_default_and_move_one_by_one(inventory):
    s = settings.load(None, inventory("backup_target: backup.hanam.gov.vn, backup_keep: {daily: 30}"))
    assert s.backup.keep == {"daily": 30, "weekly": 8, "monthly": 12}
    assert s.backup.schedule == "*-*-* 01:30:00"
    conf = configparser.ConfigParser()
    conf.read_string(components.host_files(s)[f"{layout.BACKUP_CONF}/backup.conf"])
    assert (conf["backup"]["keep_daily"], conf["backup"]["keep_weekly"], conf["backup"]["keep_monthly"]) == \
        ("30", "8", "12")
    assert conf["backup"]["repository"] == f"sftp:govmail-backup:/{s.mail_host}"
    assert conf["backup"]["paths"].split() == list(layout.BACKUP_PATHS)


@pytest.mark.parametrize("overrides, named", [
    ("backup_target: 'backup; rm -rf /'", "backup_target"),
    ("backup_target: backup, backup_keep: {hourly: 3}", "backup_keep"),
    ("backup_target: backup, backup_keep: {daily: 0}", "backup_keep"),
    ("backup_target: backup, backup_schedule: \"daily\\nExecStart=/bin/sh\"", "backup_schedule"),
])
def test_bad_backup_overrides_are_refused_by_name(inventory, overrides, named):
    with pytest.raises(BadInput, match=named):
        settings.load(None, inventory(overrides))


def test_the_mail_host_knows_the_sftp_servers_key_and_the_server_knows_the_mail_hosts():
    s = settings.load(None, INVENTORY)
    files = components.host_files(s)
    server_key = public_line(files[f"{layout.BACKUP_SFTP_CONF}/ssh_host_ed25519_key"])
    client_key = public_line(files[f"{layout.BACKUP_CONF}/id_ed25519"])
    known = [line for line in files[f"{layout.BACKUP_CONF}/known_hosts"].splitlines() if not line.startswith("#")]
    assert [line.split()[:3] for line in known] == [["govmail-backup", *server_key.split()]]
    authorized = [line for line in files[f"{layout.BACKUP_SFTP_CONF}/authorized_keys"].splitlines()
                  if not line.startswith("#")]
    assert [line.split()[:3] for line in authorized] == [["restrict", *client_key.split()]]
    ssh_config = files[f"{layout.BACKUP_CONF}/ssh_config"]
    assert "StrictHostKeyChecking yes" in ssh_config and "HostKeyAlias govmail-backup" in ssh_config
    assert client_key != server_key


def test_secrets_of_the_backup_path_are_readable_by_root_alone():
    s = settings.load(None, INVENTORY)
    table = {f.path: f for f in layout.host_files(s.mail_host)}
    for path in (f"{layout.BACKUP_CONF}/passphrase", f"{layout.BACKUP_CONF}/id_ed25519",
                 f"{layout.BACKUP_SFTP_CONF}/ssh_host_ed25519_key"):
        assert (table[path].mode, table[path].group) == ("0600", "root"), path


def test_the_host_tool_is_python_that_compiles():
    s = settings.load(None, INVENTORY)
    compile(components.host_files(s)[layout.BACKUP_TOOL], layout.BACKUP_TOOL, "exec")


def restore_tool(vmail: Path) -> dict:
    """The host tool's functions, with the mail store at `vmail`."""
    tool: dict = {"__name__": "govmail_backup"}
    exec(compile(components.host_files(settings.load(None, INVENTORY))[layout.BACKUP_TOOL], layout.BACKUP_TOOL,
                 "exec"), tool)
    tool["VMAIL"] = vmail
    return tool


def restored_store(tmp_path: Path) -> Path:
    restored = tmp_path / "staging" / "var" / "vmail"
    (restored / "hanam.gov.vn" / "an").mkdir(parents=True)
    (restored / "hanam.gov.vn" / "an" / "thu").write_text("from the snapshot")
    return restored


def host_store(vmail: Path) -> None:
    (vmail / "hanam.gov.vn" / "an").mkdir(parents=True)
    (vmail / "hanam.gov.vn" / "an" / "thu").write_text("the fresh host's")


def test_a_restored_store_replaces_the_hosts_which_is_moved_aside(tmp_path: Path):
    vmail = tmp_path / "var" / "vmail"
    host_store(vmail)
    restore_tool(vmail)["replace_store"](restored_store(tmp_path), "20261201-0900")
    assert (vmail / "hanam.gov.vn" / "an" / "thu").read_text() == "from the snapshot"
    assert (tmp_path / "var" / "vmail.before-restore-20261201-0900" / "hanam.gov.vn" / "an" / "thu").read_text() \
        == "the fresh host's"


def test_a_store_on_a_volume_of_its_own_is_replaced_inside_it(tmp_path: Path):
    """A mount point cannot be renamed: the host's mailboxes go aside inside the volume."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root")
    vmail = tmp_path / "var" / "vmail"
    vmail.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(vmail)], check=True)
    try:
        host_store(vmail)
        restore_tool(vmail)["replace_store"](restored_store(tmp_path), "20261201-0900")
        assert os.path.ismount(vmail)
        assert (vmail / "hanam.gov.vn" / "an" / "thu").read_text() == "from the snapshot"
        assert (vmail / ".before-restore-20261201-0900" / "hanam.gov.vn" / "an" / "thu").read_text() \
            == "the fresh host's"
    finally:
        subprocess.run(["umount", str(vmail)], check=True)
