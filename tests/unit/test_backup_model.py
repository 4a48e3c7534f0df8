"""The backup parts of the model: the plan from the inventory, and the secrets that tie the mail host, the
backup host's REST server and the repository together (made once on the operator's side)."""

import configparser
import os
import subprocess
from pathlib import Path

import bcrypt
import pytest
import yaml
from cryptography import x509

from govmail.build import components
from govmail.build import layout
from govmail.errors import BadInput
from govmail.model import settings

INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def test_no_target_no_backup_parts(inventory):
    s = settings.load(None, inventory(""))
    assert s.backup is None
    assert "backup" not in components.components(s)
    assert not any("backup" in path for path in components.host_files(s))


def test_retention_and_schedule_default_and_move_one_by_one(inventory):
    s = settings.load(None, inventory("backup_target: backup.hanam.gov.vn, backup_keep: {daily: 30}"))
    assert s.backup.keep == {"daily": 30, "weekly": 8, "monthly": 12}
    assert s.backup.schedule == "*-*-* 01:30:00"
    files = components.host_files(s)
    conf = configparser.ConfigParser()
    conf.read_string(files[f"{layout.BACKUP_CONF}/backup.conf"])
    assert conf["backup"]["repository"] == f"rest:https://backup.hanam.gov.vn:8000/{s.mail_host}/"
    assert conf["backup"]["paths"].split() == list(layout.BACKUP_PATHS)
    # The retention is the backup host's to apply: the mail host's credentials only add.
    prune = files["/etc/systemd/system/govmail-backup-prune.service"]
    assert "--keep-daily 30 --keep-weekly 8 --keep-monthly 12 --prune" in prune
    assert "User=restic-rest-server" in prune
    assert "keep" not in conf["backup"]


@pytest.mark.parametrize("overrides, named", [
    ("backup_target: 'backup; rm -rf /'", "backup_target"),
    ("backup_target: backup, backup_keep: {hourly: 3}", "backup_keep"),
    ("backup_target: backup, backup_keep: {daily: 0}", "backup_keep"),
    ("backup_target: backup, backup_schedule: \"daily\\nExecStart=/bin/sh\"", "backup_schedule"),
])
def test_bad_backup_overrides_are_refused_by_name(inventory, overrides, named):
    with pytest.raises(BadInput, match=named):
        settings.load(None, inventory(overrides))


def test_the_mail_host_trusts_the_rest_servers_certificate_and_the_server_knows_its_password():
    s = settings.load(None, INVENTORY)
    files = components.host_files(s)
    ca = x509.load_pem_x509_certificate(files[f"{layout.BACKUP_CONF}/server-ca.crt"].encode())
    server = x509.load_pem_x509_certificate(files[f"{layout.BACKUP_REST_CONF}/tls.crt"].encode())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [s.backup.target]
    # (the lab's hosts.yml, which the lab suites beside this one rewrite, may list stores: each has a line too)
    hashed = dict(line.split(":", 1) for line in files[f"{layout.BACKUP_REST_CONF}/users.htpasswd"].splitlines())[s.mail_host]
    assert bcrypt.checkpw(files[f"{layout.BACKUP_CONF}/rest-password"].strip().encode(), hashed.encode())
    rest = files["/etc/default/restic-rest-server"]
    assert "--append-only" in rest and "--private-repos" in rest and "--tls " in rest


def test_a_backup_host_named_by_its_address_gets_an_address_in_its_certificate(inventory):
    s = settings.load(None, inventory("backup_target: 192.0.2.7"))
    cert = x509.load_pem_x509_certificate(components.host_files(s)[f"{layout.BACKUP_REST_CONF}/tls.crt"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]


def hosts_yml(inventory_dir: Path, mail_host_address: str, monitor_address: str | None = None) -> Path:
    monitor = f"    monitor:\n      hosts:\n        monitor:\n          ansible_host: {monitor_address}\n" \
        if monitor_address else ""
    (inventory_dir / "hosts.yml").write_text(
        f"all:\n  children:\n    mail:\n      hosts:\n        mail1:\n          ansible_host: {mail_host_address}\n"
        + monitor)
    return inventory_dir


def rest_server_admits(s) -> list[str]:
    rules = components.host_files(s)[f"{layout.BACKUP_SERVER_CONF}/nftables.conf"]
    return [line.split()[-2] for line in rules.splitlines() if line.strip().startswith("tcp dport 8000 ip saddr")]


def test_the_backup_host_admits_the_inventorys_mail_host_alone(inventory):
    s = settings.load(None, hosts_yml(inventory("backup_target: backup"), "192.0.2.10"))
    rules = components.host_files(s)[f"{layout.BACKUP_SERVER_CONF}/nftables.conf"]
    accepted = [line.split() for line in rules.splitlines() if line.strip().startswith("tcp") and "accept" in line]
    assert accepted == [["tcp", "dport", "8000", "ip", "saddr", "192.0.2.10", "accept"],
                        ["tcp", "dport", "8000", "iif", '"lo"', "accept"]]
    assert "reject with tcp reset" in rules


def test_the_backup_host_admits_the_monitor_hosts_prober_too(inventory):
    s = settings.load(None, hosts_yml(inventory("backup_target: backup"), "192.0.2.10", "192.0.2.30"))
    assert rest_server_admits(s) == ["192.0.2.10", "192.0.2.30"]


def test_the_monitoring_probes_the_rest_server_with_the_internal_ca(inventory):
    """Asked for no password, the REST server answers 401: up, and TLS with the CA's certificate."""
    s = settings.load(None, hosts_yml(inventory("backup_target: backup"), "192.0.2.10"))
    files = components.host_files(s)
    blackbox = yaml.safe_load(files["/etc/prometheus/blackbox.yml"])["modules"]["backup_rest"]["http"]
    assert blackbox["valid_status_codes"] == [401]
    assert blackbox["tls_config"] == {"server_name": "backup", "ca_file": layout.PROBE_INTERNAL_CA}
    jobs = {job["job_name"]: job for job in yaml.safe_load(files["/etc/prometheus/prometheus.yml"])["scrape_configs"]}
    assert jobs["probe_backup_rest"]["static_configs"][0]["targets"] == ["https://backup:8000/"]
    ca = x509.load_pem_x509_certificate(files[layout.PROBE_INTERNAL_CA].encode())
    x509.load_pem_x509_certificate(files[f"{layout.BACKUP_REST_CONF}/tls.crt"].encode()).verify_directly_issued_by(ca)


def test_a_mail_host_named_by_name_is_refused_when_the_backup_host_must_admit_it(inventory):
    with pytest.raises(BadInput, match="mail host's ansible_host is 'mail1.example.gov.vn'"):
        settings.load(None, hosts_yml(inventory("backup_target: backup"), "mail1.example.gov.vn"))


def test_secrets_of_the_backup_path_are_readable_by_their_users_alone():
    s = settings.load(None, INVENTORY)
    table = {f.path: f for f in layout.host_files(s.mail_host)}
    for path in (f"{layout.BACKUP_CONF}/passphrase", f"{layout.BACKUP_CONF}/rest-password"):
        assert (table[path].mode, table[path].group) == ("0600", "root"), path
    for path in (f"{layout.BACKUP_REST_CONF}/users.htpasswd", f"{layout.BACKUP_REST_CONF}/tls.key",
                 f"{layout.BACKUP_SERVER_CONF}/passphrase"):
        assert (table[path].mode, table[path].group) == ("0640", "restic-rest-server"), path


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
