"""`govmail backup …`: the mail host's backups, run by govmail-backup on the host (restic; its repository on
the backup host), over the SSH access the deploy uses.

Exit codes: 0 done, 1 failed, 2 bad input (no such snapshot, a mailbox that exists without --into), 4 the
mail host or the backup host does not answer, 5 the passphrase does not open the repository.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import click

from govmail.accounts import directory
from govmail.build.layout import BACKUP_TOOL
from govmail.cli.options import inventory_options
from govmail.errors import BadInput
from govmail.model import settings as settings_mod
from govmail.reach import Unreachable

SSH_FAILED = 255


def host_tool(inventory: Path | None, province: str | None, words: list[str], passphrase: str | None) -> int:
    """Run govmail-backup on the mail host with these words; its output and exit code are the command's."""
    s = settings_mod.load(province, inventory)
    if not s.backup:
        raise BadInput("the inventory names no backup target (overrides: backup_target): nothing is backed up")
    ssh = directory.ssh_target(s)
    flags = ["--passphrase-stdin"] if passphrase is not None else []
    remote = " ".join(shlex.quote(word) for word in (BACKUP_TOOL, *flags, *words))
    done = subprocess.run([*ssh.command(), remote], input=(passphrase + "\n") if passphrase is not None else "",
                          stdout=sys.stdout, stderr=subprocess.PIPE, text=True)
    if done.returncode == SSH_FAILED:
        raise Unreachable(f"the mail host {ssh.address} does not answer SSH: {done.stderr.strip()}")
    sys.stderr.write(done.stderr)
    return done.returncode


def deployment(fn):
    fn = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                      help="The repository's passphrase from this file on your machine, instead of the host's "
                      "copy (e.g. restoring onto a host deployed with new secrets).")(fn)
    return inventory_options(fn)


def _run(inventory, province, passphrase_file, *words: str) -> None:
    passphrase = passphrase_file.read_text().strip() if passphrase_file else None
    sys.exit(host_tool(inventory, province, list(words), passphrase))


@click.group()
def backup():
    """Backups: run one now, list and check them, restore a host, a mailbox or a directory entry."""


@backup.command("run")
@deployment
def run_cmd(inventory, province, passphrase_file):
    """Back up the mail host now (what its timer does every night)."""
    _run(inventory, province, passphrase_file, "run")


@backup.command("snapshots")
@deployment
@click.option("--json", "as_json", is_flag=True, help="restic's JSON, with what each snapshot added.")
def snapshots_cmd(inventory, province, passphrase_file, as_json):
    """The mail host's snapshots."""
    _run(inventory, province, passphrase_file, "snapshots", *(["--json"] if as_json else []))


@backup.command("check")
@deployment
@click.option("--read-data", metavar="SHARE", help="Read back this share of the data too, e.g. 10%.")
def check_cmd(inventory, province, passphrase_file, read_data):
    """Check the repository's integrity."""
    _run(inventory, province, passphrase_file, "check", *(["--read-data", read_data] if read_data else []))


@backup.command("status")
@deployment
def status_cmd(inventory, province, passphrase_file):
    """The last run's outcome; exit 1 when it failed or never ran."""
    _run(inventory, province, passphrase_file, "status")


@backup.group("restore")
def restore():
    """Bring back a whole host, a mailbox or a directory entry from a snapshot."""


@restore.command("host")
@deployment
@click.option("--snapshot", default="latest", show_default=True)
def restore_host(inventory, province, passphrase_file, snapshot):
    """The directory, every mailbox and Roundcube's data onto the mail host (deployed first); what was there is
    moved aside. Mail services stop for the restore."""
    _run(inventory, province, passphrase_file, "restore-host", snapshot)


@restore.command("mailbox")
@deployment
@click.argument("address")
@click.option("--snapshot", default="latest", show_default=True)
@click.option("--into", metavar="FOLDER", help="Into this folder of an existing mailbox (else: a mailbox that no "
              "longer exists comes back whole, with its UIDs).")
@click.option("--query", default="all", show_default=True, help="Which messages (Dovecot's search syntax), with --into.")
def restore_mailbox(inventory, province, passphrase_file, address, snapshot, into, query):
    """One mailbox, or some of its messages, from a snapshot."""
    _run(inventory, province, passphrase_file, "restore-mailbox", address, snapshot,
         *(["--into", into, "--query", query] if into else []))


@restore.command("files")
@deployment
@click.option("--snapshot", default="latest", show_default=True)
@click.option("--target", required=True, help="A new or empty directory on the mail host.")
@click.option("--include", "paths", multiple=True, metavar="PATH", help="Only what is under PATH (repeatable).")
def restore_files(inventory, province, passphrase_file, snapshot, target, paths):
    """Files of a snapshot into a directory of the mail host, to read or compare (nothing is overwritten)."""
    _run(inventory, province, passphrase_file, "restore-files", snapshot, target,
         *[arg for path in paths for arg in ("--include", path)])


@restore.command("entry")
@deployment
@click.argument("uid")
@click.option("--snapshot", default="latest", show_default=True)
def restore_entry(inventory, province, passphrase_file, uid, snapshot):
    """A deleted directory entry, with its password and policy state."""
    _run(inventory, province, passphrase_file, "restore-entry", uid, snapshot)
