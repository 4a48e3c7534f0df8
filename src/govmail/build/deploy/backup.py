"""Backups: restic and its timer on the mail host and each store host; on the backup host, restic's REST server its repository
lives behind (append-only), and the retention."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from ..components import Component
from .common import install, put_files, restart_if_changed


@deploy("Backups of this host")
def client(component: Component, content: dict[str, str], facts: dict):
    install(component)
    files.directory(name="Directory of the dumps each run copies", path=facts["backup"]["dumps"], mode="700")
    restart_if_changed(component, put_files(component, content))


@deploy("Backup repository host")
def repository_server(component: Component, content: dict[str, str], facts: dict):
    b = facts["backup"]
    retire_sftp_server(b)
    install(component)
    owner = host.get_fact(Command, command=f"stat -c %U {b['root']} 2>/dev/null || true")   # None: no directory yet
    # Repositories the SFTP server kept: the same files, to be served (and pruned) by the REST server's user.
    server.shell(name="The repositories belong to the REST server's user", _if=lambda: owner not in (None, "", b["user"]),
                 commands=[f"chown -R {b['user']}:{b['user']} {b['root']}"])
    for path in (b["root"], *b["repository_dirs"]):
        files.directory(name=f"Repository directory {path}", path=path, user=b["user"], group=b["user"], mode="700")
    restart_if_changed(component, put_files(component, content))


def retire_sftp_server(b: dict) -> None:
    """govmail 2026-11's SFTP server, whose key could delete the backups: stopped, disabled, removed."""
    if host.get_fact(File, path=b["retired_unit"]):
        server.shell(name="The old SFTP server for backups stops for good",
                     commands=[f"systemctl disable --now {b['retired_service']}"])
    files.file(name="No unit of the old SFTP server", path=b["retired_unit"], present=False)
    files.directory(name="No configuration of the old SFTP server", path=b["retired_dir"], present=False)
