"""The backup parts of the model: the plan from the inventory, and the keys that tie the mail host, the backup
host's SFTP server and the repository together (made once on the operator's side)."""

import configparser
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
