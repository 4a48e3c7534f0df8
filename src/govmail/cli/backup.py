"""`govmail backup …`: the mail host's backups (or, with --store, a store host's: its mailboxes), run by
govmail-backup on that host (restic; its repository on the backup host), over the SSH access the deploy uses.

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
from govmail import reach
from govmail.reach import Unreachable

SSH_FAILED = 255


def host_tool(inventory: Path | None, province: str | None, words: list[str], passphrase: str | None,
              store: str | None = None) -> int:
    """Run govmail-backup on the mail host (or on this store host) with these words; its output and exit code
    are the command's."""
    s = settings_mod.load(province, inventory)
    if not s.backup:
        raise BadInput("the inventory names no backup target (overrides: backup_target): nothing is backed up")
    ssh = store_target(s, store) if store else directory.ssh_target(s)
    flags = ["--passphrase-stdin"] if passphrase is not None else []
    remote = " ".join(shlex.quote(word) for word in (BACKUP_TOOL, *flags, *words))
    done = subprocess.run([*ssh.command(), remote], input=(passphrase + "\n") if passphrase is not None else "",
                          stdout=sys.stdout, stderr=subprocess.PIPE, text=True)
    if done.returncode == SSH_FAILED:
        raise Unreachable(f"the {'store' if store else 'mail'} host {ssh.address} does not answer SSH: "
                          f"{done.stderr.strip()}")
    sys.stderr.write(done.stderr)
    return done.returncode


def store_target(s, store: str) -> reach.SshTarget:
    """A store host apart from the mail host, which backs its mailboxes up into a repository of its own."""
    if store not in s.stores_apart:
        apart = ", ".join(s.stores_apart) or "none"
        raise BadInput(f"'{store}' is no store host apart from the mail host (those in hosts.yml: {apart}); "
                       "without --store the command runs on the mail host")
    return dict(reach.inventory_hosts(Path(s.inventory), "store"))[store]


def deployment(fn):
    fn = click.option("--store", metavar="NAME", help="On this store host (hosts.yml group store), whose "
                      "mailboxes are in a repository of its own, instead of the mail host.")(fn)
    fn = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                      help="The repository's passphrase from this file on your machine, instead of the host's "
                      "copy (e.g. restoring onto a host deployed with new secrets).")(fn)
    return inventory_options(fn)


def _run(inventory, province, passphrase_file, store, *words: str) -> None:
    passphrase = passphrase_file.read_text().strip() if passphrase_file else None
    sys.exit(host_tool(inventory, province, list(words), passphrase, store))


@click.group()
def backup():
    """Backups: run one now, list and check them, restore a host, a mailbox or a directory entry."""


@backup.command("run")
@deployment
def run_cmd(inventory, province, passphrase_file, store):
    """Back up the mail host now (what its timer does every night)."""
    _run(inventory, province, passphrase_file, store, "run")


@backup.command("snapshots")
@deployment
@click.option("--json", "as_json", is_flag=True, help="restic's JSON, with what each snapshot added.")
def snapshots_cmd(inventory, province, passphrase_file, store, as_json):
    """The mail host's snapshots."""
    _run(inventory, province, passphrase_file, store, "snapshots", *(["--json"] if as_json else []))


@backup.command("check")
@deployment
@click.option("--read-data", metavar="SHARE", help="Read back this share of the data too, e.g. 10%.")
def check_cmd(inventory, province, passphrase_file, store, read_data):
    """Check the repository's integrity."""
    _run(inventory, province, passphrase_file, store, "check", *(["--read-data", read_data] if read_data else []))


@backup.command("status")
@deployment
def status_cmd(inventory, province, passphrase_file, store):
    """The last run's outcome; exit 1 when it failed or never ran."""
    _run(inventory, province, passphrase_file, store, "status")


@backup.group("restore")
def restore():
    """Bring back a whole host, a mailbox or a directory entry from a snapshot."""


@restore.command("host")
@deployment
@click.option("--snapshot", default="latest", show_default=True)
def restore_host(inventory, province, passphrase_file, store, snapshot):
    """The directory, every mailbox and Roundcube's data onto the mail host (deployed first); what was there is
    moved aside. Mail services stop for the restore."""
    _run(inventory, province, passphrase_file, store, "restore-host", snapshot)


@restore.command("mailbox")
@deployment
@click.argument("address")
@click.option("--snapshot", default="latest", show_default=True)
@click.option("--into", metavar="FOLDER", help="Into this folder of an existing mailbox (else: a mailbox that no "
              "longer exists comes back whole, with its UIDs).")
@click.option("--query", default="all", show_default=True, help="Which messages (Dovecot's search syntax), with --into.")
def restore_mailbox(inventory, province, passphrase_file, store, address, snapshot, into, query):
    """One mailbox, or some of its messages, from a snapshot."""
    _run(inventory, province, passphrase_file, store, "restore-mailbox", address, snapshot,
         *(["--into", into, "--query", query] if into else []))


@restore.command("files")
@deployment
@click.option("--snapshot", default="latest", show_default=True)
@click.option("--target", required=True, help="A new or empty directory on the mail host.")
@click.option("--include", "paths", multiple=True, metavar="PATH", help="Only what is under PATH (repeatable).")
def restore_files(inventory, province, passphrase_file, store, snapshot, target, paths):
    """Files of a snapshot into a directory of the mail host, to read or compare (nothing is overwritten)."""
    _run(inventory, province, passphrase_file, store, "restore-files", snapshot, target,
         *[arg for path in paths for arg in ("--include", path)])


@restore.command("entry")
@deployment
@click.argument("uid")
@click.option("--snapshot", default="latest", show_default=True)
def restore_entry(inventory, province, passphrase_file, store, uid, snapshot):
    """A deleted directory entry, with its password and policy state."""
    _run(inventory, province, passphrase_file, store, "restore-entry", uid, snapshot)
